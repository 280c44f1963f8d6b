"""Server-sent events: split a byte stream into whole events, and read one event's parts."""

from __future__ import annotations

__all__ = ["EventSplitter", "event_data", "event_name"]


class EventSplitter:
    """Feed raw chunks, get back complete events (each ending in a blank line)."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by ``chunk``, each with its trailing ``\\n\\n``."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
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
