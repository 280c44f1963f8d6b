"""Server-sent events: split a byte stream into whole events, and read one event's parts.

Lines may end in CRLF, LF or a lone CR (the SSE specification allows all three; sse-starlette
writes CRLF). The splitter turns every ending into LF, across reads as well: a read that ends
on a CR may be followed by one that starts with the LF of the same CRLF, and that LF is not a
second line end.
"""

from __future__ import annotations

__all__ = ["EventSplitter", "event_data", "event_name", "is_done"]

_DONE_EVENT = b"data: [DONE]\n\n"


class EventSplitter:
    """Feed raw chunks, get back complete events (each ending in a blank line)."""

    __slots__ = ("_cr", "_rest")

    def __init__(self) -> None:
        self._rest = b""
        self._cr = False  # the last chunk ended on a CR: an LF opening the next one is its pair

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by ``chunk``, each with its trailing ``\\n\\n``."""
        if self._cr and chunk:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        data = self._rest + chunk if self._rest else chunk
        parts = data.split(b"\n\n")
        self._rest = parts.pop()
        return [part + b"\n\n" for part in parts if part]

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet terminated."""
        return self._rest


def event_data(event: bytes) -> bytes | None:
    """The joined ``data:`` lines of ``event``, or None if it has none."""
    if event.startswith(b"data: ") and event.find(b"\n") == len(event) - 2:
        return event[6:-2]  # one data line, as most events are (an event ends in a blank line)
    lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[6:] if line.startswith(b"data: ") else line[5:] for line in lines)


def event_name(event: bytes) -> bytes | None:
    """The ``event:`` field of ``event``, if any."""
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


def is_done(event: bytes) -> bool:
    """Whether ``event`` (from ``EventSplitter``) is the end of a stream: its data is exactly
    ``[DONE]``. A ``[DONE]`` inside generated text is JSON, never a whole data value."""
    if event == _DONE_EVENT:
        return True
    return event.endswith(b"[DONE]\n\n") and event_data(event) == b"[DONE]"
