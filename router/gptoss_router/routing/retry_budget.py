"""A retry budget: retries may add at most ``ratio`` of the requests of the last ``window_s``
seconds, plus ``minimum`` retries per second whatever the traffic (Finagle's ``RetryBudget``:
20 % over a 10 s window with a floor per second).

Envoy's ``retry_budget`` (``circuit_breaker.proto``) bounds the same extra load by concurrency:
retries in flight at most 20 % of requests in flight, at least 3. It refuses bursts, which is when
failover matters: when one of three backends fails, a third of the requests in flight need a
retry at once, more than 20 % of them, and the rest fail although another backend could serve.
``bench/router_chaos.py`` measured it: with the concurrent budget about 1 % of requests failed
before their first byte during faults, every one a refused retry; with this budget none did,
and retries stayed a few percent of requests (``docs/reliability.md``).

Requests and retries are counted in two fixed windows (the current and the last), so the count
covers between one and two windows. The request path reads the clock and adds one to a counter:
a request counts in the window it came in, however long ago the last retry was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RetryBudget"]


class RetryBudget:
    """Counts requests and retries; grants a retry only within the budget."""

    __slots__ = (
        "_clock",
        "_minimum",
        "_ratio",
        "_started",
        "_window_s",
        "earlier_requests",
        "earlier_retries",
        "requests",
        "retries",
    )

    def __init__(
        self,
        *,
        ratio: float,
        minimum: float,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ratio = ratio
        self._minimum = minimum
        self._window_s = window_s
        self._clock = clock
        self._started = clock()
        self.requests = 0
        self.retries = 0
        self.earlier_requests = 0
        self.earlier_retries = 0

    def start(self) -> None:
        """A request began."""
        self._roll()
        self.requests += 1

    def try_retry(self) -> bool:
        """Grant one retry if the budget allows."""
        self._roll()
        earned = (
            self._ratio * (self.requests + self.earlier_requests) + self._minimum * self._window_s
        )
        if self.retries + self.earlier_retries + 1 > earned:
            return False
        self.retries += 1
        return True

    def _roll(self) -> None:
        now = self._clock()
        windows = int((now - self._started) // self._window_s)
        if windows < 1:
            return
        self._started += windows * self._window_s
        last_was_current = windows == 1
        self.earlier_requests = self.requests if last_was_current else 0
        self.earlier_retries = self.retries if last_was_current else 0
        self.requests = 0
        self.retries = 0
