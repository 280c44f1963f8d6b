"""One turn at a time per conversation, across every router replica.

A turn reads its conversation's items, has them answered and appends its own. Two turns of
one conversation at once would each be answered without the other, and the conversation
would then read as if the second had seen the first. OpenAI refuses the second turn instead
(400 ``conversation_locked``: "Another process is currently operating on this conversation"),
and so does the router: a turn takes its conversation's lock before it reads the items, and
gives it back once its answer has ended, kept or not.

The lock is a small document in the shared store written only where none is (a
compare-and-set), kept for ``LOCK_TTL_S`` and renewed every ``RENEW_S`` while the turn runs,
so a replica that dies mid-turn locks its conversation for at most ``LOCK_TTL_S`` (and a turn
whose end was somehow never seen, for at most ``MAX_HELD_S``). It is given
back by deleting it at the version it holds, so a lock that expired and was taken by another
turn is never given back by the first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gptoss_router.errors import RouterError

__all__ = ["LOCK_TTL_S", "MAX_HELD_S", "RENEW_S", "TurnLock"]

log = logging.getLogger(__name__)

LOCK_TTL_S = 30.0
RENEW_S = LOCK_TTL_S / 3
MAX_HELD_S = 3600.0  # renewed no longer than this: a turn that never ended frees it then

# (the version expected, seconds to live) -> the version written, or None if it was not there
Put = Callable[[int, float], Awaitable[int | None]]
# (the version expected) -> whether it was there and is gone
Drop = Callable[[int], Awaitable[bool]]


class TurnLock:
    """A conversation's lock, held by one turn until ``release``."""

    def __init__(self, put: Put, drop: Drop, version: int, what: str) -> None:
        self._put = put
        self._drop = drop
        self._version = version
        self._what = what
        self._released = False
        self._putting = False  # a renewal is waiting for the store's answer
        self._lost = False  # another turn took it after it expired
        self._renewing = asyncio.create_task(self._renew())

    @property
    def held(self) -> bool:
        """Whether this turn still holds the lock (released or lost: no)."""
        return not self._released and not self._renewing.done()

    async def release(self) -> None:
        """Give the lock back (once; later calls do nothing). A store that does not answer
        leaves it to expire within ``LOCK_TTL_S``."""
        if self._released:
            return
        self._released = True
        ended = self._renewing.done()  # lost, or renewed for MAX_HELD_S: let it expire
        if not self._putting:
            self._renewing.cancel()
        # A renewal the store may have applied is waited for, not cancelled: its answer is the
        # version to delete at (cancelled, the delete would miss, and the conversation would
        # stay locked until the renewed lock expired).
        await asyncio.wait([self._renewing])
        if ended or self._lost:
            return
        try:
            await self._drop(self._version)
        except RouterError as err:
            log.warning("%s stays locked until it expires: %s", self._what, err.message)

    async def _renew(self) -> None:
        for _ in range(int(MAX_HELD_S / RENEW_S)):
            await asyncio.sleep(RENEW_S)
            self._putting = True
            try:
                version = await self._put(self._version, LOCK_TTL_S)
            except RouterError:
                if self._released:
                    return
                continue  # the store is away: try again at the next renewal
            finally:
                self._putting = False
            if version is None:
                log.warning("%s was taken by another turn after its lock expired", self._what)
                self._lost = True
                return
            self._version = version
            if self._released:
                return
