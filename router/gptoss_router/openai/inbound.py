"""Read and check an inbound request body; derive what routing needs to know about it.

Pure. Errors name the offending parameter the way OpenAI does (``param``), so SDKs show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gptoss_router.errors import BadRequest

__all__ = ["REASONING_EFFORTS", "Inbound", "Route", "inbound_of", "read_inbound"]

Route = Literal["chat", "completions", "responses"]

# OpenAI's ReasoningEffort enum (openai/openai-openapi); gpt-oss knows only low/medium/high.
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
_REQUIRED: dict[Route, str] = {"chat": "messages", "completions": "prompt", "responses": "input"}
_REQUIRED_TYPES: dict[Route, type | tuple[type, ...]] = {
    "chat": list,
    "completions": (str, list),
    "responses": (str, list),
}
_MAX_TOKENS: dict[Route, tuple[str, ...]] = {
    "chat": ("max_completion_tokens", "max_tokens"),
    "completions": ("max_tokens",),
    "responses": ("max_output_tokens",),
}
T = TypeVar("T")
_BYTES_PER_TOKEN = 4  # a rough size estimate, only used to rank providers by cost


@dataclass(frozen=True, slots=True)
class Inbound:
    """A checked request and the facts routing decides on."""

    route: Route
    model: str
    stream: bool
    wants_usage: bool
    features: frozenset[str]
    input_tokens: int
    output_tokens: int | None
    payload: dict[str, Any]
    # What a backend needs to serve the request another way (a Responses request through
    # Chat Completions); None: there is no other way.
    fallback_features: frozenset[str] | None = None
    # Choices asked for (``n``): each may generate up to ``output_tokens``.
    choices: int = 1

    def most_output(self, default: int) -> int:
        """The most tokens the answer may generate: ``max_tokens`` (else ``default``) for each
        choice."""
        return self.choices * (self.output_tokens or default)


def read_inbound(route: Route, body: bytes) -> Inbound:
    """Parse ``body`` for ``route``; raise ``BadRequest`` naming the parameter at fault."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, 4300+ digit numbers, deep nesting
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    return inbound_of(route, payload, len(body))


def inbound_of(route: Route, payload: dict[str, Any], size: int) -> Inbound:
    """``payload`` (a request of ``size`` bytes, already parsed) checked for ``route``."""
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", param="model")
    required = _REQUIRED[route]
    if required not in payload:
        raise BadRequest(f"Missing required parameter: '{required}'.", param=required)
    if not isinstance(payload[required], _REQUIRED_TYPES[route]):
        expected = "an array" if route == "chat" else "a string or an array"
        raise BadRequest(f"Invalid type for '{required}': expected {expected}.", param=required)
    stream = _optional(payload, "stream", bool, False)
    options = _optional(payload, "stream_options", dict, {})
    if options and not stream:
        raise BadRequest(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    _check_effort(payload, route)
    if route != "completions":  # fields /v1/completions does not have
        _check_tools(payload.get("tools"))
        _check_tool_choice(payload.get("tool_choice"), route)
    return Inbound(
        route=route,
        model=model,
        stream=stream,
        wants_usage=bool(options.get("include_usage")) or route == "responses",
        features=_features(route, payload, stream),
        input_tokens=max(1, size // _BYTES_PER_TOKEN),
        output_tokens=_max_tokens(route, payload),
        payload=payload,
        choices=_choices(route, payload),
    )


def _optional(payload: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise BadRequest(f"Invalid type for '{name}': expected {kind.__name__}.", param=name)
    return value


def _max_tokens(route: Route, payload: dict[str, Any]) -> int | None:
    for name in _MAX_TOKENS[route]:
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"Invalid '{name}': expected an integer >= 1.", param=name)
        return value
    return None


def _check_tools(tools: object) -> None:
    """``tools``: absent, or an array of objects each naming its ``type`` (a string)."""
    if tools is None:
        return
    if not isinstance(tools, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", param="tools")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            where = f"tools[{index}].type"
            raise BadRequest(f"Invalid value for '{where}': expected a string.", param=where)


_TOOL_CHOICES = ("none", "auto", "required")


def _check_tool_choice(choice: object, route: Route) -> None:
    """``tool_choice``: absent, one of none/auto/required, or an object naming a type (and,
    for a function, its name: ``function.name`` in Chat Completions, ``name`` in Responses)."""
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return
    allowed = ", ".join(_TOOL_CHOICES)
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise BadRequest(
            f"Invalid value for 'tool_choice': expected one of {allowed}, or an object.",
            param="tool_choice",
        )
    if choice["type"] != "function":
        return
    named = choice.get("function") if route == "chat" else choice
    if not isinstance(named, dict) or not isinstance(named.get("name"), str):
        where = "tool_choice.function.name" if route == "chat" else "tool_choice.name"
        raise BadRequest(f"Invalid value for '{where}': expected a string.", param=where)


def _check_effort(payload: dict[str, Any], route: Route) -> None:
    if route == "responses":
        reasoning = payload.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        param = "reasoning.effort"
    else:
        effort, param = payload.get("reasoning_effort"), "reasoning_effort"
    if effort is not None and (not isinstance(effort, str) or effort not in REASONING_EFFORTS):
        allowed = ", ".join(sorted(REASONING_EFFORTS))
        raise BadRequest(f"Invalid value for '{param}': expected one of {allowed}.", param=param)


def _features(route: Route, payload: dict[str, Any], stream: bool) -> frozenset[str]:
    found: set[str] = {route}
    tools = payload.get("tools")
    has_tools = isinstance(tools, list) and bool(tools)
    if has_tools:
        found.add("tools")
    if route == "responses":
        text = payload.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        if payload.get("previous_response_id") or payload.get("conversation"):
            found.add("responses_stateful")
        if stream and has_tools:
            found.add("responses_stream_tools")
        if has_tools and payload.get("tool_choice") not in (None, "auto"):
            # vLLM 0.17 serves only tool_choice "auto" on /v1/responses with harmony (501
            # otherwise); its Chat Completions serve "required" and named functions.
            found.add("responses_tool_choice")
    else:
        fmt = payload.get("response_format")
    if route != "responses":
        found |= _sampling_features(route, payload)
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        found.add(str(fmt["type"]))
        schema = fmt.get("json_schema", fmt) if route != "responses" else fmt
        if fmt["type"] == "json_schema" and isinstance(schema, dict) and schema.get("strict"):
            found.add("json_schema_strict")
        if has_tools:
            found.add("tools_with_json")
    return frozenset(found)


def _choices(route: Route, payload: dict[str, Any]) -> int:
    """``n`` as a backend reads it (1 when absent, unreadable or below 1)."""
    if route == "responses":
        return 1
    n = _number(payload.get("n"))
    return int(n) if n is not None and n >= 1 and n == int(n) else 1


def _sampling_features(route: Route, payload: dict[str, Any]) -> set[str]:
    """What a chat or completions request asks of sampling that not every backend serves:
    several choices, token logprobs, a logit bias, repetition penalties."""
    found: set[str] = set()
    if _choices(route, payload) > 1:
        found.add("choices")
    logprobs = payload.get("logprobs")
    wants = logprobs is not None and logprobs is not False if route == "completions" else logprobs
    if wants or (route == "chat" and (_number(payload.get("top_logprobs")) or 0) != 0):
        found.add("logprobs")
    bias = payload.get("logit_bias")
    if isinstance(bias, dict) and bias:
        found.add("logit_bias")
    if any(_number(payload.get(name)) for name in ("frequency_penalty", "presence_penalty")):
        found.add("penalties")
    return found


def _number(value: object) -> float | None:
    """A number a backend would read from ``value`` (a numeric string too, as pydantic does)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
