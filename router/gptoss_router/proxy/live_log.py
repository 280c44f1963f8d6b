"""The events of a streamed background response while this replica runs it: its client's stream
and any replay here read them as they come; ``pending`` are the store's entries not yet taken.

Each event's sequence number and type are read from its JSON once, here: an SSE comment or an
event without data (a keep-alive) is not kept, and an event without a number of its own gets
the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from gptoss_router import codec
from gptoss_router.openai.sse import EventSplitter, event_data
from gptoss_router.state.event_logs import TERMINAL_EVENTS, entry

__all__ = ["LiveLog"]


class LiveLog:
    """Events in the order they were made, each with its sequence number."""

    def __init__(self) -> None:
        self.events: list[tuple[int, bytes]] = []
        self.pending: list[bytes] = []  # entries (``event_logs.entry``) not yet in the store
        self.ended = False  # nothing more will be added
        self.last: tuple[str, dict[str, Any]] | None = None  # the terminal event: type, response
        self._terminal_at: int | None = None  # the index of the terminal event
        self._splitter = EventSplitter()
        self._changed = asyncio.Event()
        self.storing = asyncio.Lock()  # held while ``pending`` is appended to the store

    @property
    def terminal(self) -> bool:
        """Whether a terminal event (completed, failed, incomplete) was added."""
        return self.last is not None

    @property
    def next_sequence(self) -> int:
        """The sequence number the next event made here should carry."""
        return self.events[-1][0] + 1 if self.events else 0

    def add(self, chunk: bytes) -> None:
        """Add the events of ``chunk`` (an event cut at its end waits for the next chunk)."""
        for event in self._splitter.feed(chunk):
            data = event_data(event)
            if not data:
                continue  # a comment or a keep-alive: nothing to replay
            try:
                doc = codec.loads(data)
            except ValueError:
                doc = None
            doc = doc if isinstance(doc, dict) else {}
            seq = doc.get("sequence_number")
            seq = seq if isinstance(seq, int) and seq >= self.next_sequence else self.next_sequence
            kind = str(doc.get("type") or "")
            self.events.append((seq, event))
            self.pending.append(entry(seq, kind, event))
            response = doc.get("response")
            if kind in TERMINAL_EVENTS and isinstance(response, dict) and self.last is None:
                self.last = (kind, response)
                self._terminal_at = len(self.events) - 1
        self._wake()

    def end(self) -> None:
        """Nothing more will be added: readers finish what is there and stop."""
        self.ended = True
        self._wake()

    async def changed(self) -> None:
        """Wait until events are added or the log ends."""
        await self._changed.wait()

    async def follow(self, after: int) -> AsyncGenerator[bytes, None]:
        """The events whose sequence number is above ``after``, as they come, until the
        terminal one (the run may go on writing it to the store) or the end."""
        index = 0
        while True:
            while index < len(self.events):
                seq, event = self.events[index]
                index += 1
                if seq > after:
                    yield event
                if index - 1 == self._terminal_at:
                    return
            if self.ended:
                return
            changed = self._changed
            await changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
