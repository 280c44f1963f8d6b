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

The lock's value names its turn (a response id), so a turn can tell its own lock apart from
another's at the same version. A renewal the store applied but whose answer was lost (a
timeout) leaves the turn a version behind: the next renewal, refused, finds the lock still its
own and goes on from the version it holds, instead of giving it up while the turn runs. And a
lock not renewed for ``LOCK_TTL_S`` (the store was away) may have expired and been taken
again, at the same version, by another turn: it is renewed or given back only if it still
names this turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
# () -> the version of the lock if it names this turn, else None
Ours = Callable[[], Awaitable[int | None]]


class TurnLock:
    """A conversation's lock, held by one turn until ``release``."""

    def __init__(
        self,
        put: Put,
        drop: Drop,
        ours: Ours,
        version: int,
        what: str,
        *,
        taken_at: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._put = put
        self._drop = drop
        self._ours = ours
        self._version = version
        self._what = what
        self._clock = clock
        self._renewed_at = taken_at  # when the last write that took was sent
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
            await self._give_back()
        except RouterError as err:
            log.warning("%s stays locked until it expires: %s", self._what, err.message)

    async def _give_back(self) -> None:
        version: int | None = self._version
        if self._may_have_expired():
            version = await self._ours()
        if version is None or await self._drop(version):
            return
        version = await self._ours()  # a renewal applied whose answer was lost
        if version is not None:
            await self._drop(version)

    def _may_have_expired(self) -> bool:
        return self._clock() - self._renewed_at >= LOCK_TTL_S

    async def _renew(self) -> None:
        for _ in range(int(MAX_HELD_S / RENEW_S)):
            await asyncio.sleep(RENEW_S)
            self._putting = True
            try:
                version = await self._renewed()
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

    async def _renewed(self) -> int | None:
        """The lock renewed: the version written, or None if it is no longer this turn's."""
        sent = self._clock()
        expected: int | None = self._version
        if self._may_have_expired():  # another turn may hold it now, at the same version
            expected = await self._ours()
        version = None if expected is None else await self._put(expected, LOCK_TTL_S)
        if version is None and expected is not None:
            expected = await self._ours()  # still ours: a renewal applied, its answer lost
            version = None if expected is None else await self._put(expected, LOCK_TTL_S)
        if version is not None:
            self._renewed_at = sent
        return version
