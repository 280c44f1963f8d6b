"""Writes that end a response's story in the store, and must land even if the store blinked.

A background response's last status, or a response rewritten as failed because its
conversation could not take it, is written once nobody waits on it any more. If the store does
not answer at that moment (it is left alone for a second after each failure,
``state/store_health.py``), a single try would leave the record ``in_progress`` or ``completed``
until its TTL, while the client was told otherwise. So such a write is tried again, with
growing waits, until it lands or ``deadline_s`` passes (then it is logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from gptoss_router.errors import StoreUnavailable

__all__ = ["Finals"]

log = logging.getLogger(__name__)


class Finals:
    """Final writes, tried until they land; those left to run on their own are tracked."""

    def __init__(
        self, *, deadline_s: float = 60.0, first_wait_s: float = 0.25, max_wait_s: float = 8.0
    ) -> None:
        self.deadline_s = deadline_s
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._pending: set[asyncio.Task[bool]] = set()

    async def write(
        self, what: str, write: Callable[[], Awaitable[object]], *, deadline_s: float | None = None
    ) -> bool:
        """Call ``write`` until it does not raise ``StoreUnavailable``; False if the deadline
        passed first (logged, naming ``what``)."""
        end = time.monotonic() + (self.deadline_s if deadline_s is None else deadline_s)
        wait = self._first_wait_s
        while True:
            try:
                await write()
            except StoreUnavailable as err:
                left = end - time.monotonic()
                if left <= 0:
                    log.warning("%s could not be written to the store: %s", what, err.message)
                    return False
                await asyncio.sleep(min(wait, left))
                wait = min(wait * 2, self._max_wait_s)
            else:
                return True

    def later(self, what: str, write: Callable[[], Awaitable[object]]) -> None:
        """``write`` as ``write`` does, in a task of its own (the caller does not wait)."""
        task = asyncio.create_task(self.write(what, write))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        """Stop the writes still trying (shutdown)."""
        tasks = list(self._pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
