"""Rewrite a checked request for one backend's dialect (pure).

- the model id becomes the backend's own (``accounts/fireworks/models/gpt-oss-120b``…);
- ``reasoning_effort`` outside gpt-oss's low/medium/high maps to the nearest it knows;
- reasoning on earlier assistant turns is renamed to the field the backend accepts, or dropped
  where it is rejected (Groq answers 400 to ``reasoning_content``);
- parameters the backend rejects are removed, and those it rejects only by their presence
  when they ask for nothing (Groq's ``logprobs: false``); a message's ``name`` is removed
  where it is rejected (Groq);
- streamed chat and completions always ask for usage, so tokens and dollars are counted
  (``stream_options.include_usage`` adds a final usage chunk);
- ``gather``: a request for a whole answer asks for a stream instead, which the router
  assembles (``proxy/gather.py``);
- Responses ``instructions`` without a function tool become a leading developer input item for
  a backend that renders them only beside one (vLLM 0.17 for gpt-oss), where they would
  otherwise never reach the model. vLLM renders such an item as a developer message, and 0.32
  takes a leading one as the instructions, so the model sees them on either release.

When nothing changes the original bytes are sent as they came; when members are only added
(``stream_options`` on a streamed request to a pod) they are appended to the original bytes,
so a long prompt is not encoded again.

Sources: docs/sources.md, OpenAI API and Providers.
"""

from __future__ import annotations

import json
from typing import Any

from gptoss_router.openai.dialects import Dialect
from gptoss_router.openai.inbound import Inbound

__all__ = ["GPT_OSS_EFFORT", "outbound_body"]

GPT_OSS_EFFORT = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_REASONING_FIELDS = ("reasoning", "reasoning_content")
_GONE = object()


def outbound_body(
    inbound: Inbound, body: bytes, *, model_id: str, dialect: Dialect, gather: bool = False
) -> bytes:
    """The body to send to a backend with ``dialect`` that calls the model ``model_id``;
    ``gather``: as a stream, though the client asked for a whole answer."""
    payload = inbound.payload
    changed = dict(payload)
    streamed = inbound.stream or gather
    if gather and not inbound.stream:
        changed["stream"] = True
    if model_id != inbound.model:
        changed["model"] = model_id
    for name in dialect.drop_params & payload.keys():
        del changed[name]
    for name in dialect.drop_unset & payload.keys():
        if not payload[name]:
            del changed[name]
    _map_effort(changed, inbound)
    if inbound.route == "responses" and dialect.instructions_need_tools:
        _instructions_as_input(changed)
    if inbound.route == "chat":
        messages = _messages_for(
            payload.get("messages"), dialect.reasoning_in, names=dialect.message_names
        )
        if messages is not None:
            changed["messages"] = messages
    if streamed and inbound.route != "responses" and not inbound.wants_usage:
        options = dict(payload.get("stream_options") or {})
        options["include_usage"] = True
        changed["stream_options"] = options
    if any(changed.get(name, _GONE) is not value for name, value in payload.items()):
        return json.dumps(changed, separators=(",", ":")).encode()
    if len(changed) == len(payload):
        return body
    return _appended(body, {k: v for k, v in changed.items() if k not in payload})


def _appended(body: bytes, extra: dict[str, Any]) -> bytes:
    """``body`` (a JSON object) with ``extra``'s members added before its closing brace."""
    end = body.rstrip()
    return end[:-1] + b"," + json.dumps(extra, separators=(",", ":")).encode()[1:]


# vLLM's built-in tools (parser/harmony_utils.py MCP_BUILTIN_TOOLS): they go in the system
# message and bring no developer message; every other tool type does.
_BUILTIN_TOOLS = frozenset({"code_interpreter", "web_search_preview", "container"})


def _builtin(kind: object) -> bool:
    return isinstance(kind, str) and kind in _BUILTIN_TOOLS


def _instructions_as_input(changed: dict[str, Any]) -> None:
    """Move ``instructions`` to a leading developer item when no custom tool would render them."""
    instructions = changed.get("instructions")
    if not isinstance(instructions, str) or not instructions:
        return
    tools = changed.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, dict) and not _builtin(t.get("type")) for t in tools
    ):
        return
    raw = changed.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        return
    del changed["instructions"]
    changed["input"] = [{"type": "message", "role": "developer", "content": instructions}, *items]


def _map_effort(changed: dict[str, Any], inbound: Inbound) -> None:
    if inbound.route == "responses":
        reasoning = changed.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("effort") in GPT_OSS_EFFORT:
            mapped = GPT_OSS_EFFORT[reasoning["effort"]]
            if mapped != reasoning["effort"]:
                changed["reasoning"] = {**reasoning, "effort": mapped}
        return
    effort = changed.get("reasoning_effort")
    if effort in GPT_OSS_EFFORT and GPT_OSS_EFFORT[effort] != effort:
        changed["reasoning_effort"] = GPT_OSS_EFFORT[effort]


def _messages_for(messages: Any, accepted: str | None, *, names: bool) -> list[Any] | None:
    """Messages with reasoning fields renamed to ``accepted`` (or dropped), and without their
    ``name`` unless ``names``; None if unchanged."""
    if not isinstance(messages, list):
        return None
    out: list[Any] = []
    touched = False
    for message in messages:
        if not names and isinstance(message, dict) and "name" in message:
            message, touched = {k: v for k, v in message.items() if k != "name"}, True
        if isinstance(message, dict) and any(f in message for f in _REASONING_FIELDS):
            fields = [f for f in _REASONING_FIELDS if f in message]
            if fields != [accepted]:
                kept = {k: v for k, v in message.items() if k not in _REASONING_FIELDS}
                if accepted is not None:
                    kept[accepted] = message[fields[0]]
                message, touched = kept, True
        out.append(message)
    return out if touched else None
