"""A vLLM pod's native Responses stream made one the ``openai`` SDK reads (pure).

OpenAI's stream keeps each output item's identity: ``response.output_item.done`` repeats the
``id`` and ``call_id`` of its ``response.output_item.added``, the final response holds the same
items, and content parts are numbered from 0 within each item. The SDK's stream helper
(``client.responses.stream``) relies on all three and raises on vLLM's stream. vLLM 0.17
(``vllm/entrypoints/openai/responses/streaming_events.py``, ``serving.py``):

* counts ``content_index`` over the whole response: ``StreamingState.reset_for_new_item``
  leaves ``current_content_index`` as it was, so the text of a message after a reasoning item
  is part 1 of a message with one part (the SDK: ``IndexError``). 0.32 resets it per item;
* builds a function call's ``output_item.done`` item with ``item_id=`` where the model has
  ``id``, so its ``id`` is null (the SDK: "Completed output item identity changed");
* and builds the final response's items afresh from the parsed messages
  (``responses/harmony.py``, ``parse_output_message``), so each function call there has
  another ``id`` and ``call_id`` than the one streamed. A client that answers the streamed
  ``call_id`` would find the kept turn holding a call it never saw.

``StreamFix.fix`` mends one event: content indexes are renumbered in the bytes (the first
index an item's events carry becomes 0; a delta that needs no change is not parsed, and an
index inside a text is escaped and never matches), and function call items take the ``id`` and
``call_id`` their item was announced with, in ``output_item.done`` and in the final response.
An event's type is read from its ``event:`` line where it has one, so a delta is not searched
for the types that matter; an item whose parts already start at 0 is not searched at all, and
an index the item's last event had is swapped for the one sent then, unparsed
(``bench/vllm_stream_fix.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["StreamFix"]

_INDEX = re.compile(rb'"content_index"\s*:\s*(\d+)')
_ADDED = b'"response.output_item.added"'
_DONE = b'"response.output_item.done"'
_FINAL = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')
_ADDED_LINE = b"event: response.output_item.added\n"
_DONE_LINE = b"event: response.output_item.done\n"
_LINES = (_ADDED_LINE, _DONE_LINE, *(b"event: " + k[1:-1] + b"\n" for k in _FINAL))
_CALL = b'"function_call"'
_KEY = b'"content_index"'

_Ids = tuple[Any, Any]  # a function call's (id, call_id)


class StreamFix:
    """Mends one native stream's events, in order (see the module docstring)."""

    __slots__ = ("_calls", "_last", "_offset")

    def __init__(self) -> None:
        self._offset: int | None = None
        self._calls: dict[int, _Ids] = {}  # by output_index
        self._last = (b"", b"")  # this item's last index renumbered, as found and as sent

    def fix(self, event: bytes) -> bytes:
        if event.startswith(_LINES):  # vLLM names each event's type first
            added = event.startswith(_ADDED_LINE)
            done = not added and event.startswith(_DONE_LINE)
            final = not (added or done)
        elif event.startswith(b"event: "):  # a delta, a part: numbered, nothing else
            return self._renumbered(event)
        else:
            added, done = _ADDED in event, _DONE in event
            final = any(k in event for k in _FINAL)
        if added:  # a new item: its parts are numbered from its first index
            self._offset, self._last = None, (b"", b"")
            if _CALL in event:
                self._announced(event)
            return event
        if done and _CALL in event:
            return _mended(event, lambda doc: _item_ids(doc, self._calls))
        if final and self._calls:
            return _mended(event, lambda doc: _response_ids(doc, self._calls))
        return self._renumbered(event)

    def _renumbered(self, event: bytes) -> bytes:
        if self._offset == 0:  # this item's parts are numbered from 0 already
            return event
        seen, sent = self._last
        if seen:  # most events of an item repeat the index the one before had
            at = event.find(seen)
            end = at + len(seen)
            if at >= 0 and not event[end : end + 1].isdigit():
                return event[:at] + sent + event[end:]
        at = event.find(_KEY)
        found = None if at < 0 else _INDEX.match(event, at)
        if found is None:
            return event
        index = int(found.group(1))
        if self._offset is None:
            self._offset = index
            if index == 0:
                return event
        fixed = b'"content_index":%d' % max(0, index - self._offset)
        self._last = (found.group(0), fixed)
        return event[: found.start()] + fixed + event[found.end() :]

    def _announced(self, event: bytes) -> None:
        doc = _doc(event)
        if doc is None:
            return
        item, index = doc.get("item"), doc.get("output_index")
        if (
            isinstance(item, dict)
            and item.get("type") == "function_call"
            and isinstance(index, int)
        ):
            self._calls[index] = (item.get("id"), item.get("call_id"))


def _doc(event: bytes) -> dict[str, Any] | None:
    for line in event.splitlines():
        if line.startswith(b"data:"):
            try:
                doc = json.loads(line[5:])
            except ValueError:
                return None
            return doc if isinstance(doc, dict) else None
    return None


def _mended(event: bytes, change: Callable[[dict[str, Any]], bool]) -> bytes:
    doc = _doc(event)
    if doc is None or not change(doc):
        return event
    data = b"data: " + json.dumps(doc, separators=(",", ":")).encode()
    head = [line for line in event.splitlines() if line and not line.startswith(b"data:")]
    return b"\n".join([*head, data]) + b"\n\n"


def _same(item: Any, announced: _Ids | None) -> bool:
    """Give ``item`` (a function call) the ids it was announced with; whether it changed."""
    if not isinstance(item, dict) or item.get("type") != "function_call" or announced is None:
        return False
    ids = {"id": announced[0], "call_id": announced[1]}
    if all(item.get(k) == v for k, v in ids.items()):
        return False
    item.update(ids)
    return True


def _item_ids(doc: dict[str, Any], calls: dict[int, _Ids]) -> bool:
    index = doc.get("output_index")
    return isinstance(index, int) and _same(doc.get("item"), calls.get(index))


def _response_ids(doc: dict[str, Any], calls: dict[int, _Ids]) -> bool:
    response = doc.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return False
    changed = [_same(item, calls.get(i)) for i, item in enumerate(output)]  # every one
    return any(changed)
