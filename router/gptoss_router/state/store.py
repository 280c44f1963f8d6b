"""The shared state store: what router replicas exchange (the in-process store of a replica that
runs alone is ``memory_store.py``).

Two kinds of traffic, both kept off the per-request path:

- ``take`` and ``charge``: sliding-window counters behind app rate limits. A replica takes a
  *lease* of several units at once (``routing/admission.py``) and spends it locally, so the
  store sees one call per lease, not one per request.
- ``sync``: one round trip every ``sync_interval_s`` that publishes this replica's in-flight
  requests per pod, the dollars it has spent and the backends it benched, and reads back the
  other replicas' in-flight counts, the apps' spend totals and every bench.

Spend goes out as this replica's running total per app and UTC day (and month), not as what it
spent since the last sync: the store keeps each replica's latest total and adds only its
growth to the app's. A sync that the store applied but whose answer came too late is sent
again, and a sync that arrives after a later one, and neither counts twice
(``SpendTotal``).

The window is the sliding-window estimate used by Cloudflare and others (the previous window's
count weighted by how much of it still overlaps, plus the current window's count): exact
enough for limits, two integers per window. ``RedisStore`` (``redis_store.py``) runs the same
arithmetic inside Redis as a Lua script; ``MemoryStore`` (``memory_store.py``) runs it in the
router's own process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gptoss_router.state.bells import Bell

__all__ = [
    "ABSENT",
    "ANY_VERSION",
    "Bench",
    "Document",
    "Incoming",
    "Outgoing",
    "SpendTotal",
    "Store",
    "StoreFailed",
    "Taken",
    "Versioned",
    "sliding_take",
    "spend_periods",
]


# ``expected`` of ``put_document``: write whatever is there, or only where nothing is.
ANY_VERSION = -2
ABSENT = -1


class StoreFailed(Exception):
    """The store did not answer in time or refused; the message never holds a password."""


@dataclass(frozen=True, slots=True)
class Taken:
    """What a ``take`` got: ``granted`` units, the window's estimated use after it, and the
    seconds until the current window ends."""

    granted: int
    used: int
    reset_s: float


@dataclass(frozen=True, slots=True)
class Bench:
    """A backend out of rotation until ``until`` (wall-clock seconds), and why: ``spent`` (a
    provider said it is out of quota) or ``ejected`` (outlier detection)."""

    kind: str
    key: str
    until: float


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document and its version (1 for the first write, one more for each)."""

    value: bytes
    version: int


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A document read back as ``value``, with its stored ``size`` in bytes and ``version``."""

    value: T
    size: int
    version: int


@dataclass(frozen=True, slots=True)
class SpendTotal:
    """Micro-dollars one replica has spent for ``app`` in ``period`` (a UTC day ``20261130`` or
    month ``202611``) since it started: a total that only grows, so sending it twice, or an
    older one after a newer one, adds nothing to the app's total."""

    app: str
    period: str
    micros: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What one replica publishes in a sync."""

    replica: str  # unique to the process: totals are kept per replica
    inflight: Mapping[str, int]  # pod URL -> requests this replica has on it
    spend: tuple[SpendTotal, ...]  # the totals that grew since the store last confirmed them
    benches: tuple[Bench, ...] = ()
    readmitted: tuple[tuple[str, str], ...] = ()  # (kind, key) brought back by this replica
    budget_apps: tuple[str, ...] = ()  # apps whose spend totals to read back


@dataclass(frozen=True, slots=True)
class Incoming:
    """What one sync reads back."""

    peer_inflight: Mapping[str, int]  # pod URL -> requests the *other* replicas have on it
    spend: Mapping[str, tuple[int, int]]  # app -> micro-dollars this UTC day, this month
    benches: tuple[Bench, ...]
    replicas: int  # replicas seen recently, this one included


class Store(Protocol):
    """Where replicas share state; every method raises ``StoreFailed`` when the store fails."""

    async def take(self, name: str, limit: int, want: int, window_s: float, now: float) -> Taken:
        """Grant up to ``want`` units of ``limit`` per ``window_s`` under ``name``."""
        ...

    async def charge(self, name: str, amount: int, window_s: float, window: int) -> None:
        """Add ``amount`` (negative: give back) to window number ``window`` of ``name``."""
        ...

    async def sync(self, out: Outgoing, now: float) -> Incoming:
        """Publish ``out`` and read what the other replicas published."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = ANY_VERSION
    ) -> int | None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds and return its new version, if
        the document is at version ``expected`` (``ABSENT``: there is none; ``ANY_VERSION``:
        whatever is there); None, writing nothing, if it is not. A compare-and-set: of two
        writers that read one version, one wins and the other sees None and reads again."""
        ...

    async def get_document(self, key: str) -> Document | None:
        """The document kept under ``key``, or None when there is none (or it expired)."""
        ...

    async def delete_document(self, key: str, *, expected: int = ANY_VERSION) -> bool:
        """Forget ``key`` if it is at version ``expected`` (``ANY_VERSION``: whatever it is);
        whether something was forgotten."""
        ...

    async def put_then_get(
        self, key: str, value: bytes, ttl_s: float, *, expected: int, then: str
    ) -> tuple[int | None, Document | None]:
        """``put_document`` of ``key``, then, if it wrote, ``get_document`` of ``then``, in
        one round trip: the read sees the store after the write (a lock taken, then what it
        guards read), and a refused write reads nothing (a turn refused its lock does not
        fetch the conversation)."""
        ...

    async def append_log(self, key: str, entries: Sequence[bytes], ttl_s: float) -> int:
        """Add ``entries`` at the end of the log ``key``, which is then kept ``ttl_s`` seconds
        from now; the log's length after."""
        ...

    async def read_log(self, key: str, start: int, count: int) -> list[bytes]:
        """Up to ``count`` entries of the log ``key`` from index ``start`` (none once it
        expired)."""
        ...

    async def delete_log(self, key: str) -> bool:
        """Forget the log ``key``; whether there was one."""
        ...

    async def ring_log(self, key: str) -> None:
        """Ring the bells of the log ``key``'s readers on every replica, though it did not
        grow: what they follow changed elsewhere (its response cancelled or deleted)."""
        ...

    def watch_log(self, key: str) -> AbstractAsyncContextManager[Bell]:
        """A bell rung when the log ``key`` is appended to, from this replica or another, for
        as long as the block runs (a hint: rings may be lost, see ``bells.py``)."""
        ...

    async def tell(self, topic: str, message: bytes) -> int:
        """Tell ``message`` to the listeners of ``topic`` on every replica, this one too; how
        many routers heard it (at most once each: one whose connection is down does not)."""
        ...

    def listen(self, topic: str, listener: Callable[[bytes], None]) -> None:
        """Call ``listener`` with what any replica tells on ``topic`` from now on."""
        ...


def sliding_take(
    current: int, previous: int, limit: int, want: int, window_s: float, now: float
) -> tuple[int, int]:
    """Units granted and the window's use after granting (the Lua script does the same)."""
    elapsed = now % window_s
    used = previous * (window_s - elapsed) / window_s + current
    granted = max(0, min(want, math.floor(limit - used)))
    return granted, math.ceil(used) + granted


def spend_periods(now: float) -> tuple[str, str]:
    """The UTC day (``20261130``) and month (``202611``) that ``now`` falls in."""
    day = time.strftime("%Y%m%d", time.gmtime(now))
    return day, day[:6]
