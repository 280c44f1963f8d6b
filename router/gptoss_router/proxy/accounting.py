"""Per-request bookkeeping: what each attempt did to shared state, and the metrics at the end.

One ``Ledger`` follows one request from its first attempt to its last byte and is closed
exactly once, whether the request succeeded, failed, was interrupted or the client left. Each
attempt is a ``Trial`` (two run at once while one is hedged: ``proxy/hedging.py``); every trial
still under way when the ledger closes (its task cancelled) gives back its pod's in-flight count.
The count is given back to the ``Pod`` the attempt took it on, even when discovery has since
replaced that pod by a new one at the same URL (a pod that left and came back): the new one
counts only the requests sent to it.

What a request spent is its usage when the backend sent it. A stream that ends without it (the
client left, the upstream cut it) is charged what it generated, estimated (``Generated``:
the text it streamed, and the request's input as ``Inbound.input_tokens`` estimates it), and so
is an attempt that failed half way through a gathered stream: the backend generated, and bills,
those tokens although another one answered. Estimates are counted in
``gptoss_router_estimated_tokens`` besides the usual token and dollar metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import Counter

from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.generated import Generated
from gptoss_router.openai.replies import Usage
from gptoss_router.proxy.attempt import Failure
from gptoss_router.routing.admission import Admission, Ticket
from gptoss_router.routing.backends import Backends, Target
from gptoss_router.routing.retry_budget import RetryBudget
from gptoss_router.state.pools import Pod
from gptoss_router.state.provider_limits import limit_key

__all__ = ["Ledger", "Shared", "Trial"]


@dataclass(frozen=True, slots=True)
class Shared:
    """The long-lived state every ledger writes to."""

    backends: Backends
    metrics: RouterMetrics
    budget: RetryBudget
    admission: Admission


@dataclass(eq=False, slots=True)
class Trial:
    """One attempt of a request: where it went, the pod it counts on, what it generated."""

    target: Target
    pod: Pod | None
    generated: Generated = field(repr=False)


class Ledger:
    """Accounts for one request."""

    def __init__(
        self,
        shared: Shared,
        *,
        route: str,
        model: str,
        started: float,
        ticket: Ticket,
        input_tokens: int = 0,
    ) -> None:
        self._shared = shared
        self._ticket = ticket
        self._route = route
        self._model = model
        self._started = started
        self._input_tokens = input_tokens  # the router's estimate, for usage never sent
        self._trying: list[Trial] = []  # attempts under way, not yet served or failed
        self._served: Target | None = None
        self._pod: Pod | None = None  # the local pod the served attempt counts on
        self._spilled = False
        self._owner = ""
        self._first_byte_at: float | None = None
        self._closed = False
        self._spent = _Spent()  # what its attempts used, settled once it closes
        self.generated = Generated(route)  # what the served attempt's stream generated
        shared.budget.start()

    @property
    def closed(self) -> bool:
        """Whether the request was recorded already (``close``)."""
        return self._closed

    def may_retry(self, failed: Target, failure: Failure) -> bool:
        """Whether another attempt fits the retry budget (and count it if so)."""
        return self._budgeted(self._shared.metrics.retries.labels(failed.label, failure.reason))

    def may_hedge(self, slow: Target) -> bool:
        """Whether a hedge for the slow attempt on ``slow`` fits the retry budget (and count
        it if so)."""
        return self._budgeted(self._shared.metrics.hedges.labels(slow.label))

    def _budgeted(self, granted: Counter) -> bool:
        """One more attempt from the retry budget, counted in ``granted``; a refusal is counted
        as the budget's."""
        if not self._shared.budget.try_retry():
            self._shared.metrics.retries_denied.inc()
            return False
        granted.inc()
        return True

    def attempting(self, target: Target, route: str | None = None) -> Trial:
        """An attempt on ``target`` starts; what its stream (of ``route``, the request's own
        unless translated) generates is counted in the trial's ``generated``."""
        trial = Trial(target, self._take_pod(target), Generated(route or self._route))
        self._trying.append(trial)
        return trial

    def failed_quietly(self, trial: Trial) -> None:
        """An attempt was abandoned (the caller left, another answered first, the backend has
        not the model): no mark against its backend."""
        self._ended(trial, "cancelled")

    def failed(self, trial: Trial, failure: Failure) -> None:
        """An attempt failed before its first byte reached the client."""
        self._ended(trial, "interrupted")
        target = trial.target
        backends = self._shared.backends
        if failure.spent_s is not None and target.kind == "hosted":
            backends.limits.note(limit_key(target.key, target.model_id), failure.spent_s)
        if backends.health.record_failure(target.key):
            self._shared.metrics.ejections.labels(target.label).inc()

    def served(self, trial: Trial, *, ttft_s: float, spill: str | None, stream: bool) -> None:
        """The attempt committed: its first byte arrived after ``ttft_s``."""
        shared, target = self._shared, trial.target
        self._commit(trial)
        self._first_byte_at = time.perf_counter() if stream else None
        if not stream:  # a stream succeeds once it ends whole (``close``), not at its start
            shared.backends.health.record_success(target.key)
        shared.metrics.ttft.labels(target.label).observe(time.perf_counter() - self._started)
        if stream:
            shared.backends.speed.observe_ttft(target.key, ttft_s)
        if target.kind == "hosted" and spill is not None:
            self._spilled = True
            self._owner = shared.backends.models.owner(self._model)
            shared.metrics.spills.labels(self._model, spill, self._owner).inc()
            shared.metrics.spilled_inflight.labels(self._model, self._owner).inc()

    def refused(self, trial: Trial) -> None:
        """The attempt's backend refused the request itself (a 4xx the caller caused): the
        request ends on it, but a refusal says nothing of its health or its speed."""
        self._commit(trial)
        self._first_byte_at = None

    def _commit(self, trial: Trial) -> None:
        """``trial`` is the request's answer."""
        self._trying.remove(trial)
        self._served, self._pod, self.generated = trial.target, trial.pod, trial.generated

    def close(self, outcome: str, usage: Usage | None = None) -> None:
        """The request is over; record it once. Without ``usage``, what the served attempt
        generated is charged, estimated."""
        if self._closed:
            return
        self._closed = True
        shared, target = self._shared, self._served
        label = target.label if target is not None else "none"
        now = time.perf_counter()
        shared.metrics.requests.labels(self._route, self._model, label, outcome).inc()
        shared.metrics.duration.labels(label, outcome).observe(now - self._started)
        for trial in list(self._trying):  # cancelled while attempts were under way
            self._ended(trial, outcome)
        if target is not None:
            self._give_back_pod()
            if self._spilled:
                shared.metrics.spilled_inflight.labels(self._model, self._owner).dec()
            health = shared.backends.health
            if outcome == "ok" and self._first_byte_at is not None:
                health.record_success(target.key)  # a stream, ended whole
            elif outcome == "interrupted" and health.record_failure(target.key):
                shared.metrics.ejections.labels(target.label).inc()
            measured = usage is not None
            usage = usage if usage is not None else _estimate(self.generated, self._input_tokens)
            if usage is not None:
                self._spent.add(usage, self._count(target, usage, outcome, estimated=not measured))
                if measured and self._first_byte_at is not None:
                    shared.backends.speed.observe_generation(
                        target.key, usage.output_tokens, now - self._first_byte_at
                    )
        spent = self._spent
        shared.admission.settle(
            self._ticket,
            input_tokens=spent.input_tokens,
            output_tokens=spent.output_tokens,
            dollars=spent.dollars,
        )

    def _ended(self, trial: Trial, outcome: str) -> None:
        """The attempt ended without an answer; what it generated is spent (once)."""
        if trial not in self._trying:
            return
        self._trying.remove(trial)
        if trial.pod is not None:
            trial.pod.inflight = max(0, trial.pod.inflight - 1)
        usage = _estimate(trial.generated, self._input_tokens)
        if usage is not None:
            self._spent.add(usage, self._count(trial.target, usage, outcome, estimated=True))

    def _count(self, target: Target, usage: Usage, outcome: str, *, estimated: bool) -> float:
        """Count ``usage`` on ``target`` in the metrics; its price in dollars."""
        metrics = self._shared.metrics
        metrics.tokens.labels(target.label, "input", outcome).inc(usage.input_tokens)
        metrics.tokens.labels(target.label, "output", outcome).inc(usage.output_tokens)
        if estimated:
            metrics.estimated_tokens.labels(target.label, "input").inc(usage.input_tokens)
            metrics.estimated_tokens.labels(target.label, "output").inc(usage.output_tokens)
        dollars = (
            usage.input_tokens * target.price.input + usage.output_tokens * target.price.output
        ) / 1e6
        metrics.dollars.labels(target.label, outcome).inc(dollars)
        return dollars

    def _take_pod(self, target: Target) -> Pod | None:
        """Count an attempt on ``target`` in flight on its pod (a local one still known)."""
        if target.kind != "local":
            return None
        pod = self._shared.backends.pools.get(self._model, target.key)
        if pod is not None:
            pod.inflight += 1
        return pod

    def _give_back_pod(self) -> None:
        """The served attempt's in-flight count, given back to the pod it was taken on
        (once)."""
        pod, self._pod = self._pod, None
        if pod is not None:
            pod.inflight = max(0, pod.inflight - 1)


def _estimate(generated: Generated, input_tokens: int) -> Usage | None:
    """An attempt's usage from what it streamed; None if it streamed nothing (its backend did
    no work worth counting)."""
    if not generated.events:
        return None
    return Usage(input_tokens, generated.output_tokens())


@dataclass(slots=True)
class _Spent:
    """What one request's attempts used, to settle against its app's limits."""

    input_tokens: int = 0
    output_tokens: int = 0
    dollars: float = 0.0

    def add(self, usage: Usage, dollars: float) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.dollars += dollars
