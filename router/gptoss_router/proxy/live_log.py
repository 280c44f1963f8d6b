"""The events of a streamed background response while this replica runs it: its client's stream
and any replay here read them as they come; ``pending`` are those the store has not yet taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from gptoss_router.openai.sse import EventSplitter
from gptoss_router.state.event_logs import TERMINAL_EVENTS, event_type, sequence_of

__all__ = ["LiveLog"]


class LiveLog:
    """Events in the order they were made, each with its sequence number."""

    def __init__(self) -> None:
        self.events: list[tuple[int, bytes]] = []
        self.pending: list[bytes] = []  # not yet in the store
        self.ended = False  # nothing more will be added
        self.terminal = False  # a terminal event (completed, failed, incomplete) was added
        self._splitter = EventSplitter()
        self._changed = asyncio.Event()

    @property
    def next_sequence(self) -> int:
        """The sequence number the next event made here should carry."""
        return self.events[-1][0] + 1 if self.events else 0

    def add(self, chunk: bytes) -> None:
        """Add the events of ``chunk`` (an event cut at its end waits for the next chunk)."""
        for event in self._splitter.feed(chunk):
            seq = sequence_of(event)
            self.events.append((self.next_sequence if seq is None else seq, event))
            self.pending.append(event)
            self.terminal = self.terminal or event_type(event) in TERMINAL_EVENTS
        self._wake()

    def end(self) -> None:
        """Nothing more will be added: readers finish what is there and stop."""
        self.ended = True
        self._wake()

    async def follow(self, after: int) -> AsyncGenerator[bytes, None]:
        """The events whose sequence number is above ``after``, as they come, until the end."""
        index = 0
        while True:
            while index < len(self.events):
                seq, event = self.events[index]
                index += 1
                if seq > after:
                    yield event
            if self.ended:
                return
            changed = self._changed
            await changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
