"""Translate a Responses API request into a Chat Completions request (pure).

So a ``POST /v1/responses`` can be served by a backend that only has Chat Completions, or whose
Responses path cannot stream function calls (vLLM's, per its gpt-oss recipe). The mapping and
what is refused or dropped, with reasons, are in docs/responses-translation.md. Shapes follow
https://platform.openai.com/docs/api-reference/responses/create and
https://platform.openai.com/docs/api-reference/chat/create.

``instructions`` become a leading system message (vLLM folds a first system or developer
message into gpt-oss's developer instructions), ``input`` becomes messages
(``responses_input``), flat function tools become Chat's nested ones, ``text.format`` becomes
``response_format`` and ``reasoning.effort`` becomes ``reasoning_effort``. ``outbound_body``
later maps effort names gpt-oss does not know and renames or drops ``reasoning`` on assistant
turns per backend.

Whatever cannot be honoured through Chat Completions is refused with ``BadRequest`` naming the
parameter; parameters without effect here are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from gptoss_router.errors import BadRequest
from gptoss_router.openai.responses_input import chat_messages

__all__ = ["MaxTokensField", "chat_request"]

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]

# Sampling parameters with the same name and meaning on both routes (vLLM's extras included).
_CARRIED = (
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "top_k",
    "min_p",
    "repetition_penalty",
)
# Parameters that need state or services a Chat Completions backend does not have.
_STATEFUL = {
    "previous_response_id": "a stored earlier response",
    "conversation": "a stored conversation",
    "prompt": "a stored prompt template",
}


def chat_request(
    payload: Mapping[str, Any], *, max_tokens_field: MaxTokensField = "max_tokens"
) -> dict[str, Any]:
    """The Chat Completions body that serves the Responses request ``payload``.

    ``max_tokens_field`` names the output limit the backend reads (``max_tokens``, the one every
    OpenAI-compatible server accepts, or ``max_completion_tokens``).
    """
    _refuse_unsupported(payload)
    body: dict[str, Any] = {"model": payload.get("model")}
    instructions = payload.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest(
            "Invalid type for 'instructions': expected a string.", param="instructions"
        )
    system = [] if instructions is None else [{"role": "system", "content": instructions}]
    body["messages"] = system + chat_messages(payload.get("input"))
    body.update(_tool_fields(payload))
    for name in _CARRIED:
        if payload.get(name) is not None:
            body[name] = payload[name]
    if payload.get("max_output_tokens") is not None:
        body[max_tokens_field] = payload["max_output_tokens"]
    response_format = _response_format(payload.get("text"))
    if response_format is not None:
        body["response_format"] = response_format
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        body["reasoning_effort"] = reasoning["effort"]
    if payload.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _tool_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``tools`` and ``tool_choice``; a choice of auto or none without tools is left out."""
    tools = _tools(payload.get("tools"))
    choice = payload.get("tool_choice")
    if choice is not None:
        choice, tools = _tool_choice(choice, tools)
    fields: dict[str, Any] = {"tools": tools} if tools else {}
    if choice is not None and (tools or choice not in ("auto", "none")):
        fields["tool_choice"] = choice
    return fields


def _refuse_unsupported(payload: Mapping[str, Any]) -> None:
    for name, needs in _STATEFUL.items():
        if payload.get(name):
            raise BadRequest(
                f"'{name}' needs {needs}, which this backend cannot use; send the whole "
                "conversation in 'input' instead.",
                param=name,
            )
    if payload.get("background"):
        raise BadRequest("Background responses are not supported here.", param="background")
    if payload.get("top_logprobs"):
        raise BadRequest(
            "'top_logprobs' cannot be served through Chat Completions here.", param="top_logprobs"
        )


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", param="tools")
    tools: list[dict[str, Any]] = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise BadRequest(
                f"Tools of type '{kind}' cannot be served by a Chat Completions backend; "
                "only 'function' tools can.",
                param=f"{where}.type",
            )
        if not isinstance(tool.get("name"), str):
            raise BadRequest(f"Missing required parameter: '{where}.name'.", param=f"{where}.name")
        function = {
            key: tool[key]
            for key in ("name", "description", "parameters", "strict")
            if tool.get(key) is not None
        }
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Chat's ``tool_choice`` and the tools it leaves the model (``allowed_tools`` filters)."""
    if value in ("auto", "none", "required"):
        return value, tools
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "function": {"name": value["name"]}}, tools
    if kind == "allowed_tools" and value.get("mode") in ("auto", "required"):
        allowed = value.get("tools")
        if isinstance(allowed, list) and all(_is_function_ref(ref) for ref in allowed):
            names = {ref["name"] for ref in allowed}
            return value["mode"], [tool for tool in tools if tool["function"]["name"] in names]
    raise BadRequest(
        f"tool_choice of type '{kind or value}' cannot be served by a Chat Completions backend; "
        "use auto, none, required, a function, or allowed_tools listing functions.",
        param="tool_choice",
    )


def _is_function_ref(ref: Any) -> bool:
    return (
        isinstance(ref, dict) and ref.get("type") == "function" and isinstance(ref.get("name"), str)
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt, dict):
        schema = {
            key: fmt[key]
            for key in ("name", "description", "schema", "strict")
            if fmt.get(key) is not None
        }
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest(
        f"text.format of type '{kind}' cannot be served by a Chat Completions backend.",
        param="text.format",
    )
