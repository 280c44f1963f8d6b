"""Reading a ``/v1/chat/completions`` body into what the simulators act on.

Validation mirrors what vLLM's OpenAI server checks for gpt-oss; each provider adds its own
refusals on top (``gptoss_sim.providers.rules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_sim import tokens
from gptoss_sim.errors import SimError
from gptoss_sim.reply import EFFORTS, Ask
from gptoss_sim.request_shapes import check_chat_shapes


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    include_reasoning: bool
    ask: Ask
    prompt_tokens: int
    body: Mapping[str, Any]
    # Choices to sample (``n``), and how many top tokens each token's logprobs list (None: no
    # logprobs are returned).
    n: int = 1
    top_logprobs: int | None = None


def message_text(message: Mapping[str, Any]) -> str:
    """All the text a message carries (string content, text parts, tool-call arguments)."""
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    for call in message.get("tool_calls") or []:
        parts.append(str(call.get("function", {}).get("arguments", "")))
    return "\n".join(parts)


def count_prompt(messages: list[dict[str, Any]], tools: list[Any]) -> int:
    text_tokens = sum(tokens.count_text(message_text(m)) for m in messages)
    tool_tokens = sum(tokens.count_text(str(t)) for t in tools)
    framing = tokens.MESSAGE_FRAMING_TOKENS * len(messages) + tokens.REPLY_PRIMING_TOKENS
    return text_tokens + tool_tokens + framing


def _require(condition: bool, message: str, param: str | None = None) -> None:
    if not condition:
        raise SimError(400, message, param=param)


def pick_tool(body: Mapping[str, Any], messages: list[dict[str, Any]]) -> Mapping[str, Any] | None:
    """The function the model calls, if any.

    A named ``tool_choice`` calls that function and ``"required"`` the first, whatever came
    before; with ``"auto"`` the model calls the first function unless the last message is a
    tool result (then it answers in words); ``"none"`` calls nothing.
    """
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        named = [t for t in tools if t.get("function", {}).get("name") == name]
        _require(bool(named), f"tool_choice names unknown function {name!r}", "tool_choice")
        return dict(named[0])
    if choice != "required" and messages[-1].get("role") == "tool":
        return None
    return dict(tools[0])


def parse_chat(
    body: Any, *, default_effort: str = "medium", require_model: bool = True
) -> ChatRequest:
    """Read a chat body. vLLM serves a body without ``model`` (``require_model=False``); its
    ``model`` is then ``""``."""
    _require(isinstance(body, dict), "request body must be a JSON object")
    check_chat_shapes(body)
    model = body.get("model") or ""
    _require(
        not require_model or (isinstance(model, str) and bool(model)), "model is required", "model"
    )
    messages = body.get("messages")
    _require(isinstance(messages, list) and bool(messages), "messages must be a non-empty list")
    _require(all(isinstance(m, dict) and "role" in m for m in messages), "bad message", "messages")
    effort = body.get("reasoning_effort") or default_effort
    # gpt-oss accepts only low, medium and high (docs/sources.md, OpenAI API, ReasoningEffort enum,
    # and vllm-project/recipes OpenAI/GPT-OSS.md).
    _require(effort in EFFORTS, f"reasoning_effort must be one of {EFFORTS}", "reasoning_effort")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    _require(
        max_tokens is None or (isinstance(max_tokens, int) and max_tokens >= 1),
        "max_tokens must be at least 1",
        "max_tokens",
    )
    n = body.get("n")
    n = 1 if n is None else n
    _require(isinstance(n, int) and not isinstance(n, bool), "n must be an integer", "n")
    _require(n >= 1, f"n must be at least 1, got {n}.", "n")
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
    stream_options = body.get("stream_options") or {}
    ask = Ask(
        seed=message_text(messages[-1]),
        effort=str(effort),
        max_tokens=max_tokens,
        tool=pick_tool(body, messages),
        schema=schema if isinstance(schema, dict) else None,
        json_object=fmt.get("type") == "json_object",
    )
    return ChatRequest(
        model=str(model),
        messages=messages,
        stream=bool(body.get("stream", False)),
        include_usage=bool(stream_options.get("include_usage", False)),
        include_reasoning=body.get("include_reasoning", True) is not False,
        ask=ask,
        prompt_tokens=count_prompt(messages, body.get("tools") or []),
        body=body,
        n=n,
        top_logprobs=wanted_logprobs(body),
    )


def wanted_logprobs(body: Mapping[str, Any]) -> int | None:
    """How many top tokens each token's logprobs list, or None when no logprobs are returned:
    vLLM returns them when ``logprobs`` is set and ``top_logprobs`` is not null (its default
    is 0; ``chat_completion/serving.py``)."""
    if not body.get("logprobs"):
        return None
    top = body.get("top_logprobs", 0)
    return None if top is None else int(top)
