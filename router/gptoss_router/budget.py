"""A retry budget, after Envoy's ``retry_budget`` (research §5).

Retries in flight may not exceed ``ratio`` of the requests in flight (default 20 %), but at
least ``minimum`` are always allowed (Envoy's ``min_retry_concurrency``, default 3). It bounds
the extra load failover adds when a backend is failing for everyone at once.
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    """Counts requests and retries in flight; grants a retry only within the budget."""

    __slots__ = ("_minimum", "_ratio", "active", "retrying")

    def __init__(self, *, ratio: float, minimum: int) -> None:
        self._ratio = ratio
        self._minimum = minimum
        self.active = 0
        self.retrying = 0

    def start(self) -> None:
        """A request began."""
        self.active += 1

    def finish(self, retries: int) -> None:
        """A request ended after holding ``retries`` granted retries."""
        self.active -= 1
        self.retrying -= retries

    def try_retry(self) -> bool:
        """Grant one retry if the budget allows; the caller returns it through ``finish``."""
        allowed = max(self._minimum, int(self.active * self._ratio))
        if self.retrying >= allowed:
            return False
        self.retrying += 1
        return True
