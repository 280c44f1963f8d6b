"""One rate limit on one replica: units leased from the shared store and spent locally.

A lease takes ``size`` units of a limit from the store at once (``lease_fraction`` of the
limit, at least one) and hands them to requests without a store call. When fewer than half a
lease is left, the next lease is taken in the background, so under steady load the request
path never waits for the store. Units a window did not use go back to the store when the
window turns, so the other replicas can have them.

Across replicas the sum of granted units never passes the limit: a limit of N admits at most N
per window, whatever the number of replicas. The price is that units one replica holds cannot
serve another: a replica may be refused while up to ``size`` units per other replica sit
unused. A request refused leaves no more than a lease here: what its take got beyond that goes
back to the store before the refusal is answered, and a request larger than the limit takes
nothing. Tokens settled above their reservation are charged without a cap (docs/limits.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import Store, StoreFailed, Taken
from gptoss_router.state.store_health import StoreHealth

__all__ = ["Granted", "Lease"]

log = logging.getLogger(__name__)

_GIVE_BACK_WAIT_S = 1.0  # the longest a take waits for the last window's units to go back


@dataclass(frozen=True, slots=True)
class Granted:
    """The result of asking a lease for units: whether they were granted, in which window, and
    what the limit headers should say."""

    ok: bool
    window: int
    remaining: int
    reset_s: float
    retry_after_s: float


class Lease:
    """Units of one limit (``limit`` per ``window_s``) this replica may hand out."""

    def __init__(
        self,
        name: str,
        limit: int,
        *,
        window_s: float,
        fraction: float,
        store: Store,
        health: StoreHealth,
        fallback: MemoryStore,
        replicas: Callable[[], int],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.name = name
        self.limit = limit
        self._window_s = window_s
        self._size = max(1, math.floor(limit * fraction))
        self._store = store
        self._health = health
        self._fallback = fallback
        self._replicas = replicas
        self._spawn = spawn
        self._window = -1
        self._held = 0
        self._borrowed = 0  # of this window's units, how many came from the fallback
        self._used = 0  # the store's count of this window after our last take
        self._refilling = False
        self._giving_back: asyncio.Event | None = None  # set once the last window's units are back

    async def acquire(self, want: int, now: float, *, fail_open: bool) -> Granted | None:
        """Take ``want`` units now; None when the store is down and this limit fails closed.
        A ``now`` read before another request moved the lease to a later window (the caller
        awaited meanwhile) counts in that window: a lease never goes back."""
        now = max(now, self._window * self._window_s)
        self._roll(now)
        window = self._window
        if self._held < want <= self.limit:  # more than the limit is never granted: take none
            taken = await self._take(want - self._held, now, fail_open=fail_open)
            if taken is None:
                return None
            if self._window != window:  # another request moved the lease on meanwhile
                return self._late(taken, want, window, now)
            self._held += taken.granted
            self._used = taken.used
        if self._held < want:
            excess = self._held - self._size
            if excess > 0:  # a refused request leaves no more than a lease held here
                self._held -= excess
                if owed := self._owed(excess):
                    await self._charge(-owed, self._window)
            return Granted(
                False, self._window, self._remaining(), self._reset(now), self._wait(now)
            )
        self._held -= want
        if self._size > 1 and self._held < self._size // 2 and not self._refilling:
            self._refilling = True
            self._spawn(self._refill(self._window, now))
        return Granted(True, self._window, self._remaining(), self._reset(now), 0.0)

    def _late(self, taken: Taken, want: int, window: int, now: float) -> Granted:
        """A take the store answered after the lease had moved to a new window: its units
        were counted in ``window``, so the request they cover is admitted there, and what it
        does not need goes back to that window rather than into the new one's lease."""
        ok = taken.granted >= want
        back = taken.granted - want if ok else taken.granted
        if back:
            self._spawn(self._charge(-back, window))
        remaining = max(0, self.limit - taken.used)
        return Granted(ok, window, remaining, self._reset(now), 0.0 if ok else self._wait(now))

    def settle(self, window: int, reserved: int, used: int) -> None:
        """A request that reserved ``reserved`` units in ``window`` used ``used``."""
        surplus = reserved - used
        if surplus > 0 and window == self._window:
            self._held += surplus
        elif surplus != 0:
            extra = -surplus
            if extra > 0 and window == self._window:
                from_lease = min(extra, self._held)
                self._held -= from_lease
                extra -= from_lease
            if extra:
                self._spawn(self._charge(extra, window))

    def _roll(self, now: float) -> None:
        window = math.floor(now / self._window_s)
        if window == self._window:
            return
        if self._held and self._window >= 0 and (owed := self._owed(self._held)):
            self._giving_back = asyncio.Event()
            self._spawn(self._give_back(owed, self._window, self._giving_back))
        self._window, self._held, self._used, self._borrowed = window, 0, 0, 0

    async def _give_back(self, owed: int, window: int, done: asyncio.Event) -> None:
        try:
            await self._charge(-owed, window)
        finally:
            done.set()

    async def _take(self, need: int, now: float, *, fail_open: bool) -> Taken | None:
        # The last window's unused units go back before this one takes: the store weighs the
        # last window's count into this one's, and a lone replica leases the whole limit, so a
        # take that ran first would find the limit spent by units nobody used.
        if self._giving_back is not None and not self._giving_back.is_set():
            # bounded: a give-back that never ran (cancelled at shutdown) must not hold takes
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_GIVE_BACK_WAIT_S):
                    await self._giving_back.wait()
        want = max(need, self._size)
        if self._health.usable():
            try:
                taken = await self._store.take(self.name, self.limit, want, self._window_s, now)
            except StoreFailed as err:
                self._health.failed("take", str(err))
            else:
                self._health.succeeded()
                return taken
        if not fail_open:
            return None
        # The store is down: this replica enforces its share of the limit on its own.
        share = max(1, math.ceil(self.limit / max(1, self._replicas())))
        taken = await self._fallback.take(self.name, share, want, self._window_s, now)
        self._borrowed += taken.granted
        return taken

    async def _refill(self, window: int, now: float) -> None:
        try:
            if not self._health.usable():
                return
            try:
                taken = await self._store.take(
                    self.name, self.limit, self._size, self._window_s, now
                )
            except StoreFailed as err:
                self._health.failed("take", str(err))
                return
            self._health.succeeded()
            if window == self._window:
                self._held += taken.granted
                self._used = max(self._used, taken.used)
            elif taken.granted:
                await self._charge(-taken.granted, window)
        finally:
            self._refilling = False

    def _owed(self, units: int) -> int:
        """Of ``units`` held of this window and now given up, those the store granted (to go
        back to it); those the fallback lent while the store was down go nowhere: the store
        never counted them."""
        lent = min(units, self._borrowed)
        self._borrowed -= lent
        return units - lent

    async def _charge(self, amount: int, window: int) -> None:
        """Count ``amount`` more units (fewer, if negative) in ``window``. What the store could
        not count of a request's use beyond its reservation counts in this replica's own share
        (the fallback), as the units it lends while the store is down do; what goes back is
        not lent again until the store counts it."""
        if self._health.usable():
            try:
                await self._store.charge(self.name, amount, self._window_s, window)
            except StoreFailed as err:
                self._health.failed("charge", str(err))
            else:
                return
        if amount > 0:
            await self._fallback.charge(self.name, amount, self._window_s, window)

    def peek(self, now: float) -> Granted:
        """What the limit's headers say now, without taking a unit: as of this replica's last
        take in this window (the whole limit when it has none yet)."""
        now = max(now, self._window * self._window_s)
        fresh = math.floor(now / self._window_s) != self._window
        remaining = self.limit if fresh else self._remaining()
        return Granted(True, self._window, remaining, self._reset(now), 0.0)

    def _remaining(self) -> int:
        return max(0, min(self.limit, self.limit - self._used + self._held))

    def _reset(self, now: float) -> float:
        return self._window_s - now % self._window_s

    def _wait(self, now: float) -> float:
        # The sliding estimate frees units as the previous window's weight decays; without
        # knowing the split, the end of this window is a safe upper bound to retry after.
        return self._reset(now)
