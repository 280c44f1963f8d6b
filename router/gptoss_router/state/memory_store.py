"""The store of a router that runs alone: every ``Store`` answer, kept in this process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from gptoss_router.state.bells import Bell, Bells
from gptoss_router.state.store import (
    ABSENT,
    ANY_VERSION,
    Bench,
    Document,
    Incoming,
    Outgoing,
    Taken,
    sliding_take,
    spend_periods,
)

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class MemoryStore:
    """The store of a router that runs alone: the same answers, kept in this process."""

    _windows: dict[tuple[str, int], int] = field(default_factory=dict)
    _spend: dict[tuple[str, str], int] = field(default_factory=dict)  # (app, period) -> total
    _spent_by: dict[tuple[str, str, str], int] = field(default_factory=dict)  # + replica
    _benches: dict[tuple[str, str], float] = field(default_factory=dict)
    # key -> (monotonic expiry, version, value)
    _documents: dict[str, tuple[float, int, bytes]] = field(default_factory=dict)
    _logs: dict[str, tuple[float, list[bytes]]] = field(default_factory=dict)  # key -> expiry
    _puts: int = 0
    _bells: Bells = field(default_factory=Bells)
    _listeners: dict[str, list[Callable[[bytes], None]]] = field(default_factory=dict)

    async def take(self, name: str, limit: int, want: int, window_s: float, now: float) -> Taken:
        index = math.floor(now / window_s)
        current = self._windows.get((name, index), 0)
        previous = self._windows.get((name, index - 1), 0)
        granted, used = sliding_take(current, previous, limit, want, window_s, now)
        if granted:
            self._windows[(name, index)] = current + granted
        for old in [k for k in self._windows if k[0] == name and k[1] < index - 1]:
            del self._windows[old]
        return Taken(granted, used, window_s - now % window_s)

    async def charge(self, name: str, amount: int, window_s: float, window: int) -> None:
        key = (name, window)
        self._windows[key] = max(0, self._windows.get(key, 0) + amount)

    async def sync(self, out: Outgoing, now: float) -> Incoming:
        day, month = spend_periods(now)
        for total in out.spend:
            part = (total.app, total.period, out.replica)
            grown = total.micros - self._spent_by.get(part, 0)
            if grown > 0:
                self._spent_by[part] = total.micros
                key = (total.app, total.period)
                self._spend[key] = self._spend.get(key, 0) + grown
        for old in [k for k in self._spend if k[1] not in (day, month)]:
            del self._spend[old]
        for gone in [k for k in self._spent_by if k[1] not in (day, month)]:
            del self._spent_by[gone]
        for bench in out.benches:
            key = (bench.kind, bench.key)
            self._benches[key] = max(self._benches.get(key, 0.0), bench.until)
        for readmitted in out.readmitted:
            self._benches.pop(readmitted, None)
        benches = tuple(Bench(k, key, u) for (k, key), u in self._benches.items() if u > now)
        spend = {
            app: (self._spend.get((app, day), 0), self._spend.get((app, month), 0))
            for app in out.budget_apps
        }
        return Incoming(peer_inflight={}, spend=spend, benches=benches, replicas=1)

    async def close(self) -> None:
        return None

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = ANY_VERSION
    ) -> int | None:
        now = time.monotonic()
        found = self._documents.get(key)
        version = found[1] if found is not None and found[0] > now else ABSENT
        if expected != ANY_VERSION and expected != version:
            return None
        written = max(1, version + 1)
        self._documents[key] = (now + ttl_s, written, value)
        self._puts += 1
        if self._puts % 256 == 0:  # now and then, drop what has expired
            for old in [k for k, (until, _, _) in self._documents.items() if until <= now]:
                del self._documents[old]
            for gone in [k for k, (until, _) in self._logs.items() if until <= now]:
                del self._logs[gone]
        return written

    async def get_document(self, key: str) -> Document | None:
        found = self._documents.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return Document(found[2], found[1])

    async def delete_document(self, key: str, *, expected: int = ANY_VERSION) -> bool:
        found = self._documents.get(key)
        if found is None or found[0] <= time.monotonic():
            return False
        if expected != ANY_VERSION and expected != found[1]:
            return False
        del self._documents[key]
        return True

    async def put_then_get(
        self, key: str, value: bytes, ttl_s: float, *, expected: int, then: str
    ) -> tuple[int | None, Document | None]:
        written = await self.put_document(key, value, ttl_s, expected=expected)
        return written, None if written is None else await self.get_document(then)

    async def append_log(self, key: str, entries: Sequence[bytes], ttl_s: float) -> int:
        now = time.monotonic()
        found = self._logs.get(key)
        log = found[1] if found is not None and found[0] > now else []
        log.extend(entries)
        self._logs[key] = (now + ttl_s, log)
        self._bells.ring(key)
        return len(log)

    async def read_log(self, key: str, start: int, count: int) -> list[bytes]:
        found = self._logs.get(key)
        if found is None or found[0] <= time.monotonic():
            return []
        return found[1][max(0, start) : max(0, start) + count]

    async def delete_log(self, key: str) -> bool:
        found = self._logs.pop(key, None)
        return found is not None and found[0] > time.monotonic()

    async def ring_log(self, key: str) -> None:
        self._bells.ring(key)

    def watch_log(self, key: str) -> AbstractAsyncContextManager[Bell]:
        return self._bells.watch(key)

    async def tell(self, topic: str, message: bytes) -> int:
        listeners = self._listeners.get(topic, [])
        for listener in listeners:
            listener(message)
        return len(listeners)

    def listen(self, topic: str, listener: Callable[[bytes], None]) -> None:
        self._listeners.setdefault(topic, []).append(listener)
