"""Responses stream events for output items as they stream, numbered, and their SSE form (pure).

An output item (reasoning, message or function call) streams as pieces of text; ``EventLog``
numbers every event of one response by ``sequence_number`` from 0 and writes the events that
add a streaming item, add or finish its content part, and close it with the text it gathered
(https://platform.openai.com/docs/api-reference/responses-streaming). ``encode_events`` turns
events into server-sent events named by their ``type``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from gptoss_router.openai.responses_objects import (
    ItemStatus,
    function_call_item,
    message_item,
    output_text_part,
    reasoning_item,
    reasoning_text_part,
)

__all__ = ["EventLog", "StreamItem", "encode_events", "failure_events", "where"]


def failure_events(
    seq: int, code: str | None, message: str, failed: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """How a stream that failed after showing its response ends: ``error`` numbered ``seq``,
    then ``response.failed`` with the ``failed`` response."""
    error = {"type": "error", "sequence_number": seq, "code": code, "message": message}
    return [
        {**error, "param": None},
        {"type": "response.failed", "sequence_number": seq + 1, "response": failed},
    ]


def encode_events(events: Iterable[Mapping[str, Any]]) -> bytes:
    """Server-sent events for ``events``, each named by its ``type``."""
    return b"".join(
        b"event: %s\ndata: %s\n\n"
        % (str(event["type"]).encode(), json.dumps(event, separators=(",", ":")).encode())
        for event in events
    )


class StreamItem:
    """One output item while it streams."""

    __slots__ = ("call_id", "id", "kind", "name", "output_index", "pieces")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.id = ""
        self.output_index = -1  # -1 until output_item.added has been sent
        self.pieces: list[str] = []
        self.call_id = ""
        self.name = ""


def where(item: StreamItem) -> dict[str, Any]:
    """Where an event belongs: its item, and the item's single content part if it has one."""
    place = {"item_id": item.id, "output_index": item.output_index}
    if item.kind != "function_call":
        place["content_index"] = 0
    return place


class EventLog:
    """The events of one response, numbered across the stream, gathered call by call."""

    __slots__ = ("_events", "_sequence")

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._sequence = 0

    def begin(self) -> list[dict[str, Any]]:
        """A new list that the events from now on go to (what one call of the stream returns)."""
        self._events = []
        return self._events

    def emit(self, kind: str, **fields: Any) -> None:
        """Add an event of type ``kind``, numbered after the one before it."""
        self._events.append({"type": kind, "sequence_number": self._sequence, **fields})
        self._sequence += 1

    def added(self, added: dict[str, Any], item: StreamItem) -> None:
        """``response.output_item.added`` for ``item``, shown as ``added``."""
        self.emit("response.output_item.added", output_index=item.output_index, item=added)

    def part(self, kind: str, item: StreamItem, part: dict[str, Any]) -> None:
        """A content part event (``kind``: added or done) of ``item``."""
        self.emit(kind, **where(item), part=part)

    def close(self, item: StreamItem, status: ItemStatus) -> dict[str, Any]:
        """The events that finish ``item`` with its gathered text; returns the finished item."""
        text = "".join(item.pieces)
        if item.kind == "function_call":
            done = function_call_item(
                item.id, call_id=item.call_id, name=item.name, arguments=text, status=status
            )
            self.emit(
                "response.function_call_arguments.done",
                **where(item),
                arguments=text,
                name=item.name,
            )
        elif item.kind == "reasoning":
            part = reasoning_text_part(text)
            self.emit("response.reasoning_text.done", **where(item), text=text)
            self.part("response.content_part.done", item, part)
            done = reasoning_item(item.id, [part], status)
        else:
            part = output_text_part(text)
            self.emit("response.output_text.done", **where(item), text=text, logprobs=[])
            self.part("response.content_part.done", item, part)
            done = message_item(item.id, [part], status)
        self.emit("response.output_item.done", output_index=item.output_index, item=done)
        return done
