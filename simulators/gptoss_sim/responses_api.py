"""The ``/v1/responses`` endpoint's request: what it asks for and how many prompt tokens it is.

gpt-oss takes its effort as ``reasoning.effort`` here (docs/sources.md, OpenAI API;
vllm-project/recipes OpenAI/GPT-OSS.md). The hosted providers' response objects and events are
``gptoss_sim.responses_builder``'s; vLLM's are ``gptoss_sim.vllm_responses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_sim import tokens
from gptoss_sim.errors import SimError
from gptoss_sim.reply import EFFORTS, Ask
from gptoss_sim.request_shapes import check_responses_shapes


@dataclass(frozen=True)
class ResponsesRequest:
    model: str
    ask: Ask
    prompt_tokens: int
    stream: bool
    previous_response_id: str | None
    body: Mapping[str, Any]


def item_text(item: Any) -> str:
    """An input item's text: its content's text parts, a tool's output, a call's arguments."""
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping):
        return ""
    content = item.get("content", item.get("output", item.get("arguments", "")))
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def parse_responses(
    body: Any, *, default_effort: str = "medium", require_model: bool = True
) -> ResponsesRequest:
    """Read a Responses body. vLLM serves one without ``model`` (``require_model=False``)."""
    if not isinstance(body, dict) or (require_model and not isinstance(body.get("model"), str)):
        raise SimError(400, "model is required", param="model")
    check_responses_shapes(body)
    raw_input = body.get("input")
    items = [raw_input] if isinstance(raw_input, str) else raw_input
    if not isinstance(items, list) or not items:
        raise SimError(400, "input must be a string or a non-empty list", param="input")
    effort = (body.get("reasoning") or {}).get("effort") or default_effort
    if effort not in EFFORTS:
        raise SimError(400, f"reasoning.effort must be one of {EFFORTS}", param="reasoning")
    last = items[-1]
    answered_tool = isinstance(last, dict) and last.get("type") == "function_call_output"
    functions = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    fmt = (body.get("text") or {}).get("format") or {}
    texts = [item_text(i) for i in items] + [str(body.get("instructions") or "")]
    ask = Ask(
        seed=item_text(last),
        effort=effort,
        max_tokens=body.get("max_output_tokens"),
        tool=functions[0] if functions and not answered_tool else None,
        schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
        json_object=fmt.get("type") == "json_object",
    )
    framing = tokens.MESSAGE_FRAMING_TOKENS * len(items) + tokens.REPLY_PRIMING_TOKENS
    return ResponsesRequest(
        model=str(body.get("model") or ""),
        ask=ask,
        prompt_tokens=sum(tokens.count_text(t) for t in texts) + framing,
        stream=bool(body.get("stream", False)),
        previous_response_id=body.get("previous_response_id"),
        body=body,
    )
