"""Pieces of OpenAI's Responses API objects, shared by the reply and the stream translators.

A Responses ``response`` object (https://platform.openai.com/docs/api-reference/responses/object)
is built from three sources: what the request asked for and the response repeats (``echo``:
tools, tool_choice, text, instructions, metadata…), what the backend generated (output items,
usage, finish reason), and identifiers the translation chooses (``resp_…`` and item ids).

Item ids are derived from the response id and the item's output index, so one response's
items never collide and a test can predict them. Reasoning is read from ``reasoning`` (vLLM
since PR #27752, Groq, Together) or ``reasoning_content`` (Fireworks, older vLLM).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "ItemStatus",
    "chat_reasoning",
    "function_call_item",
    "item_id",
    "message_item",
    "new_response_id",
    "output_text_part",
    "reasoning_item",
    "reasoning_text_part",
    "response_echo",
    "response_id_for",
    "response_object",
    "status_for",
    "usage_from_chat",
]

ItemStatus = Literal["in_progress", "completed", "incomplete"]

# Chat finish reasons that end a response early, as Responses' ``incomplete_details.reason``.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Request fields a response repeats as they were sent, when they have the right JSON type.
_ECHOED: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("instructions", str),
    ("max_output_tokens", int),
    ("max_tool_calls", int),
    ("temperature", (int, float)),
    ("top_p", (int, float)),
    ("top_logprobs", int),
    ("user", str),
    ("safety_identifier", str),
    ("prompt_cache_key", str),
    ("reasoning", dict),
)


def new_response_id() -> str:
    """A fresh ``resp_…`` id."""
    return "resp_" + uuid.uuid4().hex


def response_id_for(chat_id: object) -> str:
    """The response id for a chat completion ``chat_id`` (``chatcmpl-abc`` → ``resp_abc``)."""
    if isinstance(chat_id, str) and chat_id:
        tail = chat_id.rpartition("-")[2] or chat_id
        return "resp_" + "".join(c if c.isalnum() else "_" for c in tail)
    return new_response_id()


def item_id(prefix: str, response_id: str, output_index: int) -> str:
    """The id of output item ``output_index`` of ``response_id`` (``msg_abc_1``)."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


def response_echo(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Responses request that its response object repeats.

    Defaults are OpenAI's: ``tool_choice`` "auto", no tools, ``parallel_tool_calls`` true,
    plain text format and empty ``metadata``. ``truncation`` is always "disabled": the
    translation never drops input to make it fit.
    """
    echo: dict[str, Any] = {
        "model": payload.get("model"),
        "instructions": None,
        "metadata": _of(payload, "metadata", dict) or {},
        "parallel_tool_calls": _of(payload, "parallel_tool_calls", bool, True),
        "temperature": None,
        "top_p": None,
        "tool_choice": _of(payload, "tool_choice", (str, dict), "auto"),
        "tools": _of(payload, "tools", list) or [],
        "text": _of(payload, "text", dict) or {"format": {"type": "text"}},
        "truncation": "disabled",  # nothing is cut from the input; the backend refuses overflow
    }
    for name, kind in _ECHOED:
        value = _of(payload, name, kind)
        if value is not None and not (kind is int and isinstance(value, bool)):
            echo[name] = value
    return echo


def response_object(
    echo: Mapping[str, Any],
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole ``response`` object."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": None if incomplete_reason is None else {"reason": incomplete_reason},
        **echo,
        "output": output,
        "usage": usage,
    }


def status_for(finish_reason: object) -> tuple[Literal["completed", "incomplete"], str | None]:
    """The response status for a chat ``finish_reason``, and why it is incomplete if it is."""
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("completed", None) if reason is None else ("incomplete", reason)


def usage_from_chat(usage: object) -> dict[str, Any] | None:
    """Chat ``usage`` (prompt/completion tokens) as Responses usage (input/output tokens)."""
    if not isinstance(usage, dict):
        return None
    ins, outs = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(ins, int) or not isinstance(outs, int):
        return None
    total = usage.get("total_tokens")
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    return {
        "input_tokens": ins,
        "input_tokens_details": {
            "cached_tokens": _count(prompt, "cached_tokens"),
            "cache_write_tokens": _count(prompt, "cache_write_tokens"),
        },
        "output_tokens": outs,
        "output_tokens_details": {"reasoning_tokens": _count(completion, "reasoning_tokens")},
        "total_tokens": total if isinstance(total, int) else ins + outs,
    }


def chat_reasoning(message: Mapping[str, Any]) -> str:
    """The reasoning text on a chat message or delta, whichever field carries it."""
    for key in ("reasoning", "reasoning_content"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def output_text_part(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_text_part(text: str) -> dict[str, Any]:
    """A ``reasoning_text`` content part (gpt-oss's raw chain of thought)."""
    return {"type": "reasoning_text", "text": text}


def reasoning_item(id_: str, parts: list[dict[str, Any]], status: ItemStatus) -> dict[str, Any]:
    """A ``reasoning`` output item; its text is content, its summary empty (gpt-oss has none)."""
    return {"id": id_, "type": "reasoning", "summary": [], "content": parts, "status": status}


def message_item(id_: str, parts: list[dict[str, Any]], status: ItemStatus) -> dict[str, Any]:
    """An assistant ``message`` output item."""
    return {"id": id_, "type": "message", "role": "assistant", "status": status, "content": parts}


def function_call_item(
    id_: str, *, call_id: str, name: str, arguments: str, status: ItemStatus
) -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": id_,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _of(
    payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    value = payload.get(name)
    return value if isinstance(value, kind) else default


def _count(details: object, name: str) -> int:
    value = details.get(name) if isinstance(details, dict) else None
    return value if isinstance(value, int) else 0
