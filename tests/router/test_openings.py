"""A stream's answer begins at its first event with output: role-only chunks, keepalives and a
Responses stream's ``response.created``/``in_progress`` only open it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gptoss_router.openai.openings import is_opening


def _event(doc: Any) -> bytes:
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], **choice: Any) -> bytes:
    return _event({"id": "c", "choices": [{"index": 0, "delta": delta, **choice}]})


ROLE = _chunk({"role": "assistant", "content": ""})


@pytest.mark.parametrize(
    "event",
    [
        ROLE,
        _chunk({"role": "assistant"}),
        _chunk({"role": "assistant", "content": None, "tool_calls": None}),
        _event({"type": "response.created", "response": {"status": "in_progress"}}),
        _event({"type": "response.in_progress", "response": {"status": "in_progress"}}),
        b": keepalive\n\n",
    ],
    ids=["role", "role-alone", "role-nulls", "created", "in-progress", "keepalive"],
)
def test_events_that_carry_no_output_only_open_a_stream(event: bytes) -> None:
    assert is_opening(event)


@pytest.mark.parametrize(
    "event",
    [
        _chunk({"role": "assistant", "content": "Hi"}),
        _chunk({"reasoning_content": "The user"}),
        _chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"role": "assistant", "content": ""}, finish_reason="stop"),
        _event({"id": "c", "choices": [], "usage": {"prompt_tokens": 1}}),
        _event({"error": {"message": "engine failed", "code": 500}}),
        _event({"type": "response.output_item.added", "item": {"type": "reasoning"}}),
        _event({"type": "response.failed", "response": {"error": {"message": "x"}}}),
        _event({"id": "cmpl", "choices": [{"index": 0, "text": "Hi"}]}),
        b"data: [DONE]\n\n",
        b"data: {not json\n\n",
    ],
    ids=[
        "content",
        "reasoning",
        "tool-call",
        "finish",
        "usage",
        "error",
        "output-item",
        "failed",
        "completions",
        "done",
        "unreadable",
    ],
)
def test_events_with_output_or_an_end_begin_the_answer(event: bytes) -> None:
    assert not is_opening(event)
