"""Every ``sync_interval_s``, one round trip to the store: what this replica knows goes out,
what the others know comes in.

Out: requests this replica has in flight per local pod, what its apps have spent (its running
totals per app and UTC day and month, those that grew since the store last confirmed them),
backends it benched (a provider's 429/``Retry-After``, an outlier ejection) and those an
active check brought back. In: the other replicas' in-flight requests per pod (added to this
replica's when it picks a pod), the apps' spend totals, and every replica's benches, applied
here for as long as they last. A bench reaches every replica within one interval.

When a sync fails, nothing is lost or guessed: spend, benches and readmissions go with the next
one, and the other replicas' in-flight counts are dropped once they are older than
``stale_after_s`` (this replica then sees only its own load, as a single router would). A sync
fails by its timeout even when the store applied it; sending totals rather than increments
makes the next one add only what is new, so no dollar is counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.routing.backends import Backends
from gptoss_router.state.store import (
    Bench,
    Incoming,
    Outgoing,
    SpendTotal,
    Store,
    StoreFailed,
    spend_periods,
)
from gptoss_router.state.store_health import StoreHealth

__all__ = ["StoreSync"]

log = logging.getLogger(__name__)

_SPENT, _EJECTED = "spent", "ejected"


@dataclass(slots=True)
class StoreSync:
    """The sync loop of one replica (``replica`` names it in the store)."""

    replica: str
    store: Store
    health: StoreHealth
    backends: Backends
    admission: Admission
    metrics: RouterMetrics
    interval_s: float
    stale_after_s: float
    clock: Callable[[], float]  # monotonic, the clock of the outlier and rate-limit books
    wall: Callable[[], float] = time.time
    replicas: int = 1
    _published: dict[tuple[str, str], float] = field(default_factory=dict)
    _spent: dict[tuple[str, str], int] = field(default_factory=dict)  # (app, period) -> micros
    _unconfirmed: set[tuple[str, str]] = field(default_factory=set)  # totals not yet stored
    _readmitted: set[tuple[str, str]] = field(default_factory=set)  # benches to lift, unsent
    _last_ok: float = float("-inf")

    async def run(self) -> None:
        """Sync until cancelled."""
        while True:
            await self.once()
            await asyncio.sleep(self.interval_s)

    async def once(self) -> bool:
        """One sync; whether it reached the store."""
        sent_at = self.wall()  # the day and month of its spend, and of the totals read back
        out = self._outgoing(sent_at)
        try:
            incoming = await self.store.sync(out, sent_at)
        except StoreFailed as err:
            self.health.failed("sync", str(err))
            for bench in out.benches:
                self._published.pop((bench.kind, bench.key), None)
            if self.clock() - self._last_ok > self.stale_after_s:
                self._apply_inflight({})
            return False
        except Exception:
            log.exception("store sync failed unexpectedly")
            return False
        self.health.succeeded()
        self._last_ok = self.clock()
        self._readmitted.difference_update(out.readmitted)
        self._stored(sent_at)
        self._apply(incoming, sent_at)
        return True

    def _totals(self, sent_at: float) -> tuple[SpendTotal, ...]:
        """This replica's running totals that grew since the store last confirmed them, with
        what its apps spent since the last sync added to the day and month of ``sent_at``."""
        for app, micros in self.admission.drain_spend().items():
            for period in spend_periods(sent_at):
                self._spent[(app, period)] = self._spent.get((app, period), 0) + micros
                self._unconfirmed.add((app, period))
        return tuple(SpendTotal(a, p, self._spent[(a, p)]) for a, p in sorted(self._unconfirmed))

    def _stored(self, sent_at: float) -> None:
        """The store holds every total sent; only the current day's and month's grow again."""
        self._unconfirmed.clear()
        current = spend_periods(sent_at)
        for past in [key for key in self._spent if key[1] not in current]:
            del self._spent[past]

    def _outgoing(self, sent_at: float) -> Outgoing:
        mono, wall = self.clock(), sent_at
        benches: list[Bench] = []
        local = [(_SPENT, k, u) for k, u in self.backends.limits.spent_until().items()]
        local += [(_EJECTED, k, u) for k, u in self.backends.health.ejected_until().items()]
        for kind, key, until in local:
            if self._published.get((kind, key), 0.0) < until:
                self._published[(kind, key)] = until
                benches.append(Bench(kind, key, wall + until - mono))
        # A readmission goes with every sync until one reaches the store: lost with a failed
        # one, the others' copy of the bench would eject the backend here again.
        self._readmitted.update((_EJECTED, k) for k in self.backends.health.drain_readmitted())
        readmitted = tuple(sorted(self._readmitted))
        for gone in readmitted:
            self._published.pop(gone, None)
        return Outgoing(
            replica=self.replica,
            inflight=self._inflight(),
            spend=self._totals(sent_at),
            benches=tuple(benches),
            readmitted=readmitted,
            budget_apps=self.admission.budget_apps,
        )

    def _inflight(self) -> dict[str, int]:
        """Requests in flight per pod URL: a pod serving a base model and its adapters is in
        one pool per model, and its requests add up over them."""
        out: dict[str, int] = {}
        for pod in self.backends.pools:
            if pod.inflight:
                out[pod.url] = out.get(pod.url, 0) + pod.inflight
        return out

    def _apply(self, incoming: Incoming, sent_at: float) -> None:
        """What the store answered to a sync sent at wall time ``sent_at``: its spend totals
        are of that day and month, even when the answer comes after midnight."""
        mono, wall = self.clock(), self.wall()
        self._apply_inflight(incoming.peer_inflight)
        self.admission.synced(incoming.spend, sent_at)
        self.replicas = incoming.replicas
        self.metrics.store_replicas.set(incoming.replicas)
        for bench in incoming.benches:
            until = mono + bench.until - wall
            if self._published.get((bench.kind, bench.key), 0.0) >= until - 0.001:
                continue
            self._published[(bench.kind, bench.key)] = until
            if bench.kind == _SPENT:
                self.backends.limits.note_until(bench.key, until)
            elif bench.kind == _EJECTED:
                self.backends.health.hold_out(bench.key, until)
        for key in [k for k, until in self._published.items() if until <= mono]:
            del self._published[key]

    def _apply_inflight(self, peer: Mapping[str, int]) -> None:
        for pod in self.backends.pools:
            pod.peer_inflight = peer.get(pod.url, 0)
