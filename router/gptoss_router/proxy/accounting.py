"""Per-request bookkeeping: what each attempt did to shared state, and the metrics at the end.

One ``Ledger`` follows one request from its first attempt to its last byte and is closed
exactly once, whether the request succeeded, failed, was interrupted or the client left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.replies import Usage
from gptoss_router.proxy.attempt import Failure
from gptoss_router.routing.admission import Admission, Ticket
from gptoss_router.routing.backends import Backends, Target
from gptoss_router.routing.retry_budget import RetryBudget

__all__ = ["Ledger", "Shared"]


@dataclass(frozen=True, slots=True)
class Shared:
    """The long-lived state every ledger writes to."""

    backends: Backends
    metrics: RouterMetrics
    budget: RetryBudget
    admission: Admission


class Ledger:
    """Accounts for one request."""

    def __init__(
        self, shared: Shared, *, route: str, model: str, started: float, ticket: Ticket
    ) -> None:
        self._shared = shared
        self._ticket = ticket
        self._route = route
        self._model = model
        self._started = started
        self._served: Target | None = None
        self._spilled = False
        self._owner = ""
        self._first_byte_at: float | None = None
        self._closed = False
        shared.budget.start()

    def may_retry(self, failed: Target, failure: Failure) -> bool:
        """Whether another attempt fits the retry budget (and count it if so)."""
        metrics = self._shared.metrics
        if not self._shared.budget.try_retry():
            metrics.retries_denied.inc()
            return False
        metrics.retries.labels(failed.label, failure.reason).inc()
        return True

    def attempting(self, target: Target) -> None:
        """An attempt on ``target`` starts."""
        self._count_inflight(target, +1)

    def failed_quietly(self, target: Target) -> None:
        """An attempt on ``target`` was abandoned (the caller left): no mark against it."""
        self._count_inflight(target, -1)

    def failed(self, target: Target, failure: Failure) -> None:
        """An attempt on ``target`` failed before its first byte."""
        self._count_inflight(target, -1)
        backends = self._shared.backends
        if failure.spent_s is not None and target.kind == "hosted":
            backends.limits.note(target.key, failure.spent_s)
        if backends.health.record_failure(target.key):
            self._shared.metrics.ejections.labels(target.label).inc()

    def served(self, target: Target, *, ttft_s: float, spill: str | None, stream: bool) -> None:
        """``target`` committed: its first byte arrived after ``ttft_s``."""
        shared = self._shared
        self._served = target
        self._first_byte_at = time.perf_counter() if stream else None
        shared.backends.health.record_success(target.key)
        shared.metrics.ttft.labels(target.label).observe(time.perf_counter() - self._started)
        if stream:
            shared.backends.speed.observe_ttft(target.key, ttft_s)
        if target.kind == "hosted" and spill is not None:
            self._spilled = True
            self._owner = shared.backends.models.owner(self._model)
            shared.metrics.spills.labels(self._model, spill, self._owner).inc()
            shared.metrics.spilled_inflight.labels(self._model, self._owner).inc()

    def close(self, outcome: str, usage: Usage | None = None) -> None:
        """The request is over; record it once."""
        if self._closed:
            return
        self._closed = True
        shared, target = self._shared, self._served
        label = target.label if target is not None else "none"
        now = time.perf_counter()
        shared.metrics.requests.labels(self._route, self._model, label, outcome).inc()
        shared.metrics.duration.labels(label, outcome).observe(now - self._started)
        if target is None or usage is None:
            shared.admission.settle(self._ticket, input_tokens=0, output_tokens=0, dollars=0.0)
        if target is None:
            return
        self._count_inflight(target, -1)
        if self._spilled:
            shared.metrics.spilled_inflight.labels(self._model, self._owner).dec()
        if outcome == "interrupted" and shared.backends.health.record_failure(target.key):
            shared.metrics.ejections.labels(target.label).inc()
        if usage is not None:
            self._account(target, usage, outcome, now)

    def _account(self, target: Target, usage: Usage, outcome: str, now: float) -> None:
        metrics = self._shared.metrics
        metrics.tokens.labels(target.label, "input", outcome).inc(usage.input_tokens)
        metrics.tokens.labels(target.label, "output", outcome).inc(usage.output_tokens)
        dollars = (
            usage.input_tokens * target.price.input + usage.output_tokens * target.price.output
        ) / 1e6
        metrics.dollars.labels(target.label, outcome).inc(dollars)
        self._shared.admission.settle(
            self._ticket,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            dollars=dollars,
        )
        if self._first_byte_at is not None:
            self._shared.backends.speed.observe_generation(
                target.key, usage.output_tokens, now - self._first_byte_at
            )

    def _count_inflight(self, target: Target, delta: int) -> None:
        if target.kind != "local":
            return
        pod = self._shared.backends.pools.get(self._model, target.key)
        if pod is not None:
            pod.inflight = max(0, pod.inflight + delta)
