"""How long each backend's slow first events take: a running estimate of a high quantile of its
time to first event, which the request path hedges after (``proxy/hedging.py``).

"The Tail at Scale" (Dean and Barroso, CACM 56(2), 2013) defers a hedged request until the
first has been outstanding longer than the 95th-percentile expected latency, which bounds the
extra load to about 5 %. Here the quantile is tracked per backend by stochastic approximation in
log space: each first event that came later than the estimate raises it by ``step x q``, each
that came sooner lowers it by ``step x (1 - q)``, so it settles where a share ``1 - q`` of the
first events come later (Robbins and Monro, 1951). The rule needs to know only *whether* an
event came later than the estimate, never by how much, so an attempt cancelled for its hedge
once the estimate had passed counts in full: the estimate is not biased low by the slow
attempts a hedge cuts short, which an average of the times that were seen would be.

The first sample starts the estimate at ``e`` times itself (a log-normal's 95th percentile is
2.5 times its median at the spreads providers show: docs/sources.md, Providers); a backend is
hedged after only once ``min_samples`` first events have moved it. Pure state: the caller
passes every time in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TailBook"]

_STEP = 0.1  # in log space: a late event raises the estimate by 10 % x q


@dataclass(slots=True)
class _Tail:
    log_s: float
    samples: int = 1


class TailBook:
    """A quantile of the time to first event per backend key."""

    __slots__ = ("_min_samples", "_quantile", "_tails")

    def __init__(self, *, quantile: float, min_samples: int) -> None:
        self._quantile = quantile
        self._min_samples = min_samples
        self._tails: dict[str, _Tail] = {}

    def after(self, key: str) -> float | None:
        """Seconds after which an attempt on ``key`` is slow (its quantile); None while too few
        first events were seen to say."""
        tail = self._tails.get(key)
        if tail is None or tail.samples < self._min_samples:
            return None
        return math.exp(tail.log_s)

    def observe(self, key: str, seconds: float) -> None:
        """An attempt on ``key`` had its first event after ``seconds``."""
        tail = self._tails.get(key)
        if tail is None:
            self._tails[key] = _Tail(math.log(max(seconds, 1e-3)) + 1.0)
            return
        late = math.log(max(seconds, 1e-3)) > tail.log_s
        self._move(tail, late=late)

    def overdue(self, key: str) -> None:
        """An attempt on ``key`` was still without its first event at ``after(key)``; whenever
        that event comes, if it ever does, it is not observed again."""
        tail = self._tails.get(key)
        if tail is not None:
            self._move(tail, late=True)

    def forget(self, key: str) -> None:
        """``key`` is gone (a pod that left)."""
        self._tails.pop(key, None)

    def backends(self) -> set[str]:
        """The backends it holds a tail of."""
        return set(self._tails)

    def _move(self, tail: _Tail, *, late: bool) -> None:
        q = self._quantile
        tail.log_s += _STEP * q if late else -_STEP * (1.0 - q)
        tail.samples += 1
