"""Passive outlier ejection with backoff, after Envoy's outlier detection.

A backend that fails ``consecutive`` times in a row is ejected for ``base * n`` seconds, n being
how many times it has been ejected, capped at ``maximum``. It comes back when the time is up or
when an active health check succeeds (``readmit``), as a successful check un-ejects in Envoy
(Envoy's defaults and docs: docs/sources.md, Failover).

A health check cannot see every failure: an engine that answers ``/health`` but fails each
request in band (a 200, then an error event) would be readmitted by every check and ejected
again by its next requests, each a retry. So a backend ejected again within ``base`` seconds of
a check readmitting it, without a request served in between, is no longer readmitted by checks:
it serves its ejections out, and checks are believed again once one of its requests succeeds.
The clock is injected so the transitions are tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OutlierDetector"]


@dataclass(slots=True)
class _Record:
    failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    last_ejected: float = 0.0
    readmitted_at: float = -1e18  # when an active check last brought it back
    checks_believed: bool = True  # whether a passing check may bring it back


class OutlierDetector:
    """Tracks consecutive failures per backend key and ejects outliers."""

    def __init__(
        self,
        *,
        consecutive: int,
        base_ejection_s: float,
        max_ejection_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._consecutive = consecutive
        self._base = base_ejection_s
        self._max = max_ejection_s
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._readmitted: set[str] = set()

    def record_success(self, key: str) -> None:
        """A request to ``key`` succeeded: its failure streak ends."""
        record = self._records.get(key)
        if record is None:
            return
        record.failures = 0
        record.checks_believed = True  # and the last check that readmitted it was right
        record.readmitted_at = -1e18
        # Forget past ejections once a backend has stayed in for the longest ejection time.
        if record.ejections and self._clock() - record.last_ejected > self._max:
            record.ejections = 0

    def record_failure(self, key: str) -> bool:
        """A request to ``key`` failed; True when this failure ejects it."""
        record = self._records.setdefault(key, _Record())
        now = self._clock()
        if record.ejected_until > now:
            return False
        record.failures += 1
        if record.failures < self._consecutive:
            return False
        record.failures = 0
        record.ejections += 1
        record.last_ejected = now
        if now - record.readmitted_at < self._base:  # the check passed, the requests failed
            record.checks_believed = False
        record.ejected_until = now + min(self._base * record.ejections, self._max)
        return True

    def is_ejected(self, key: str) -> bool:
        """Whether ``key`` is out of rotation now."""
        record = self._records.get(key)
        return record is not None and record.ejected_until > self._clock()

    def ejected(self) -> list[str]:
        """Keys currently ejected."""
        now = self._clock()
        return [key for key, r in self._records.items() if r.ejected_until > now]

    def readmit(self, key: str) -> bool:
        """An active check passed: bring ``key`` back now (its backoff history stays), unless
        checks are not believed for it; whether it is back."""
        record = self._records.get(key)
        if record is None:
            return True
        now = self._clock()
        if not record.checks_believed and record.ejected_until > now:
            return False
        if record.ejected_until > now:
            self._readmitted.add(key)
            record.readmitted_at = now
        record.ejected_until = 0.0
        record.failures = 0
        return True

    def ejected_until(self) -> dict[str, float]:
        """Every key ejected now, and until when (this detector's clock)."""
        now = self._clock()
        return {key: r.ejected_until for key, r in self._records.items() if r.ejected_until > now}

    def hold_out(self, key: str, until: float) -> None:
        """Another replica ejected ``key`` until ``until`` (this detector's clock): keep it out
        as long, without counting an ejection of our own."""
        record = self._records.setdefault(key, _Record())
        record.ejected_until = max(record.ejected_until, until)

    def drain_readmitted(self) -> list[str]:
        """Keys an active check brought back since the last call."""
        keys, self._readmitted = sorted(self._readmitted), set()
        return keys

    def forget(self, key: str) -> None:
        """``key`` no longer exists (a pod went away)."""
        self._records.pop(key, None)

    def backends(self) -> set[str]:
        """The backends it holds a record of."""
        return set(self._records)
