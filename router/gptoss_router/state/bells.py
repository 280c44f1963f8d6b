"""Bells that wake the readers of a log when it grows, so a replay from another replica follows
a background response as its events are appended instead of reading the store on a timer.

A ``Bell`` is one reader's: it is rung each time its log is appended to (or may have been, as
when a lost subscription is made again) and ``wait`` returns at the ring, or after its timeout
when none came. A ring is a hint, never the data: the reader reads the log after each wait, rung
or not, so a ring that is lost (the store's pub/sub is at most once) costs only the timeout.

``Bells`` keeps the bells of one process by log; ``watch`` hands one out for as long as a reader
follows its log. The in-process store rings them itself; the Redis store (``redis_bells.py``)
rings them from its subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["Bell", "Bells"]


class Bell:
    """One reader's wake-up for one log."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        """Wake the reader (now if it waits, at its next ``wait`` otherwise)."""
        self._rung.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a ring, at most ``timeout_s``; whether one came (since the last wait)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._rung.wait()
        except TimeoutError:
            return False
        self._rung.clear()
        return True


class Bells:
    """The bells of one process, by the log they are for."""

    def __init__(self) -> None:
        self._by_log: dict[str, set[Bell]] = {}
        self.changes = 0  # counts the logs that gained their first bell or lost their last

    def logs(self) -> frozenset[str]:
        """The logs someone follows."""
        return frozenset(self._by_log)

    def ring(self, log: str) -> None:
        """Ring every bell of ``log``."""
        for bell in self._by_log.get(log, ()):
            bell.ring()

    def ring_all(self) -> None:
        """Ring every bell: appends may have gone unheard."""
        for bells in self._by_log.values():
            for bell in bells:
                bell.ring()

    def add(self, log: str) -> tuple[Bell, bool]:
        """A new bell for ``log``, and whether it is the log's first."""
        bells = self._by_log.setdefault(log, set())
        bell = Bell()
        bells.add(bell)
        if len(bells) == 1:
            self.changes += 1
        return bell, len(bells) == 1

    def remove(self, log: str, bell: Bell) -> bool:
        """Forget ``bell``; whether it was the log's last."""
        bells = self._by_log.get(log)
        if bells is None:
            return False
        bells.discard(bell)
        if bells:
            return False
        del self._by_log[log]
        self.changes += 1
        return True

    @contextlib.asynccontextmanager
    async def watch(self, log: str) -> AsyncIterator[Bell]:
        """A bell for ``log`` while the block runs (rung by ``ring``)."""
        bell, _ = self.add(log)
        try:
            yield bell
        finally:
            self.remove(log, bell)
