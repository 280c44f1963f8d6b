"""When the cost policy moves to the cheapest plan (``economics``), and the decision it takes
each tick with the reason in plain words (pure: no clock, no I/O).

Switching costs a cold start: a new replica bills GPU time for ``cold_start_s`` (weights to load,
docs/sources.md, Cold starts) before it serves anything, and one given back must be started
again if demand returns. So the ``CostGovernor`` moves to the cheapest plan only on evidence
(the ski-rental rule):

* to remove replicas, once the current plan has overspent, against the cheaper one, the GPU
  time of their cold starts; half that once demand has lately come back later than that much
  overspending takes, twice that once it came back sooner (``returns``: the deployment's own
  history, trusted within bounds);
* to add replicas, once it has overspent one cold start of their GPU time, or once more
  replicas have been the cheaper plan for a whole cold start without a break, whichever comes
  first. The second clause bounds the wait: demand held above the break-even buys its replica
  one cold start (plus the demand meter's minute of smoothing) after it began, however thin
  the margin. Either way the last tick's demand alone must still call for them (reason
  ``RiseEnded`` otherwise): the minute's average lags, and evidence gathered during a spike
  would otherwise buy a replica after the spike ended.

GPU time billed in whole periods (per minute, per started hour) changes both sides: a replica
bought costs at least one period, so the dollars of evidence to add one are the larger of a
cold start and a period of its GPU time (the time rule stays one cold start: latency does not
wait for the bill); and one given back mid-period saves nothing until the period ends, so a
move down waits until the newest replica (the one a ReplicaSet removes first) is within a
minute of the end of its paid period (reason ``WithinPaidPeriod``).

A spike shorter than a cold start is served hosted, a sustained rise buys replicas, and demand
wandering around the break-even point restarts the evidence at every crossing, so the plan does
not flap.

Without spill (no provider may take the overflow), the replicas to carry the demand come at
once (reason ``LatencyBound``); fewer are a move down like any other, on a cold start of
evidence. Once the demand has ended (``Demand.idle``: less than half a request left in the
meter's minute), the last replica is given back on the same evidence, a cold start of idle GPU
time (reason ``Idle``): the break-even keep-alive of scale to zero.

Providers are not bottomless: their rate limits answer 429 and their servers fail. When more
than 1 % of the demand (what the latency goal lets miss) went unserved over the demand
meter's minute, by more than chance gives a count that small (``turned_away``: one tick's bad
luck, or one request of a few dozen, is not a 1 % share of requests), the router found no
backend for it, so cost no longer decides: the replicas to carry the unserved rate are added
at once on top of the ready ones (reason ``ProvidersFull``), and the cost rule gives them back
once the providers cope again. Those replicas come a cold start late for the
burst that called them; with ``burstStandby`` set, the replicas to carry the largest burst past
the providers stay warm while such bursts keep recurring (``standby``), reason
``BurstStandby``, the dollars they cost above the cheapest plan said in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from gptoss_operator.autoscaling.economics import (
    CostPolicy,
    Demand,
    Prices,
    break_even_tokens_per_s,
    cheapest_replicas,
    hosted_dollars_per_hour,
    plan_dollars_per_hour,
)
from gptoss_operator.autoscaling.explain import Facts, StandbyFacts, sentence
from gptoss_operator.autoscaling.prices import LIST_PRICE
from gptoss_operator.autoscaling.returns import Returns, down_evidence

if TYPE_CHECKING:
    from gptoss_operator.autoscaling.standby import Standby

__all__ = ["CostDecision", "CostGovernor"]

_PAID_SLACK_S = 60.0  # a replica paid for less than this much longer may be given back


@dataclass(frozen=True)
class CostDecision:
    replicas: int
    reason: str  # CamelCase, for Events and status
    message: str  # the reason in plain words, then the figures compared
    local_dollars_per_hour: float  # the chosen plan: GPUs plus hosted overflow
    hosted_dollars_per_hour: float  # the same demand all hosted
    break_even_tokens_per_s: float = math.inf
    provider: str = LIST_PRICE


@dataclass
class CostGovernor:
    """Hysteresis of the cost policy for one GptOssDeployment (see the module docstring)."""

    overspent: float = 0.0  # dollars the current plan cost more than the cheapest, so far
    direction: int = 0  # +1 while more replicas would be cheaper, -1 while fewer, 0 at the best
    since: float = 0.0  # when ``direction`` last changed
    last: float | None = None
    returns: Returns = field(default_factory=Returns)  # how soon demand came back, so far

    def _evidence(
        self, now: float, best: int, current: int, overspend: float, prices: Prices, p: CostPolicy
    ) -> float:
        """Dollars of overspending the move from ``current`` to ``best`` waits for: the GPU
        time its replicas bill before they serve (or a billing period, buying), and moving
        down, weighed by how soon demand came back before."""
        if best > current:
            self.returns.rose(now)
        wasted_s = p.commitment_s if best > current else p.cold_start_s
        switch = abs(best - current) * prices.replica_hourly * wasted_s / 3600.0
        if best < current:  # as soon as demand is expected back, or later
            switch = down_evidence(switch, overspend, self.returns.predicted_s(now))
        return switch

    def _gather(
        self, now: float, best: int, current: int, overspend: float, *, counts: bool
    ) -> None:
        """Add this tick's ``overspend`` ($/h of ``current`` above ``best``) to the evidence for
        the move to ``best`` (afresh if the move changed), unless it ``counts`` for nothing."""
        elapsed = 0.0 if self.last is None else max(0.0, now - self.last)
        self.last = now
        if not counts:
            return
        direction = (best > current) - (best < current)
        if direction != self.direction:  # the evidence for a move starts afresh
            self.overspent, self.direction, self.since = 0.0, direction, now
        self.overspent += max(0.0, overspend) * elapsed / 3600.0

    def _bound(
        self, now: float, current: int, lo: int, p: CostPolicy, *, turned_away: bool, holding: bool
    ) -> str | None:
        """Why a bound moves the replicas at once, to the bound; None within the bounds."""
        if current > p.max_replicas:  # maxReplicas was lowered: configuration, not evidence
            self.overspent, self.direction, self.since = 0.0, 0, now
            return "AboveMaxReplicas"
        if current >= lo:
            return None
        # below minReplicas, too few to carry the demand without spill, or the providers full
        if not p.may_spill:
            return "LatencyBound"
        if turned_away:
            return "ProvidersFull"
        return "BurstStandby" if holding else "BelowMinReplicas"

    @staticmethod
    def _still_rising(
        demand: Demand, capacity: float, prices: Prices, lo: int, current: int, p: CostPolicy
    ) -> bool:
        """Whether the last tick's demand alone still makes more replicas the cheaper plan: the
        minute's average lags, so evidence gathered in a spike would buy after it ended."""
        if demand.tick_tokens_per_s is None:
            return True
        now = replace(demand, tokens_per_s=demand.tick_tokens_per_s)
        return cheapest_replicas(now, capacity, prices, lo, p.max_replicas) > current

    def decide(
        self,
        now: float,
        demand: Demand,
        *,
        current: int,
        capacity: float,
        policy: CostPolicy,
        ready: int | None = None,
        newest_age_s: float | None = None,
        standby: Standby | None = None,
        blind: bool = False,
        measuring: bool = False,
    ) -> CostDecision:
        """The replicas for this tick; ``blind``: a replica's or a router's metrics are
        missing, so the demand read may be short of the real one and no move down is taken
        or prepared (reason ``MetricsMissing``); ``measuring``: the demand has been measured
        for less than a window (a new operator), and no move down is taken or prepared either
        (reason ``Measuring``)."""
        p = policy
        prices, provider = p.priced(demand.input_per_output)
        needed = (
            0
            if demand.idle
            else math.ceil(demand.tokens_per_s / capacity)
            if capacity > 0
            else p.max_replicas
        )
        lo = p.min_replicas if p.may_spill else max(p.min_replicas, needed)
        turned_away = p.may_spill and demand.unserved_beyond_share
        if turned_away:  # the providers cannot take the overflow: carry it, ready or loading
            extra = math.ceil(demand.unserved_now / capacity) if capacity > 0 else 1
            lo = max(lo, (current if ready is None else ready) + extra)
        lo = min(lo, p.max_replicas)
        unheld = cheapest_replicas(demand, capacity, prices, lo, p.max_replicas)
        warm = 0 if standby is None or not p.may_spill else min(standby.replicas, p.max_replicas)
        holding = warm > unheld  # the standby, not the dollars, sets the count
        lo = max(lo, warm)
        best = cheapest_replicas(demand, capacity, prices, lo, p.max_replicas)
        if current < lo or current > p.max_replicas:  # a bound moves at once, to the bound
            best = min(max(current, lo), p.max_replicas)
        now_cost = plan_dollars_per_hour(current, demand, capacity, prices)
        best_cost = plan_dollars_per_hour(best, demand, capacity, prices)
        hosted = hosted_dollars_per_hour(demand.tokens_per_s, demand, prices)
        unseen = (blind or measuring) and current > best and current <= p.max_replicas
        self._gather(now, best, current, now_cost - best_cost, counts=not unseen)
        switch = self._evidence(now, best, current, now_cost - best_cost, prices, p)
        held = now - self.since
        paid_left = 0.0 if newest_age_s is None else p.paid_left_s(newest_age_s)
        facts = Facts(
            demand=demand.tokens_per_s,
            unserved=demand.unserved_now,
            input_per_output=demand.input_per_output,
            capacity=capacity,
            current=current,
            best=best,
            current_cost=now_cost,
            best_cost=best_cost,
            hosted_cost=hosted,
            break_even=break_even_tokens_per_s(demand, prices),
            gpus=p.gpus,
            product=p.product,
            gpu_hourly=p.gpu_hourly,
            provider=provider,
            input_per_million=prices.input_per_million,
            output_per_million=prices.output_per_million,
            may_spill=p.may_spill,
            overspent=self.overspent,
            switch_cost=switch,
            held_s=held,
            hold_s=p.cold_start_s,
            paid_left_s=paid_left,
            tick_demand=math.nan if demand.tick_tokens_per_s is None else demand.tick_tokens_per_s,
            standby=None
            if standby is None or not holding
            else StandbyFacts(
                replicas=warm,
                excess=standby.excess,
                providers=standby.providers,
                bursts=standby.bursts,
                since_s=standby.since_s,
                window_s=standby.window_s,
                extra_cost=best_cost - plan_dollars_per_hour(unheld, demand, capacity, prices),
            ),
        )

        def decision(replicas: int, reason: str, cost: float) -> CostDecision:
            message = sentence(reason, facts)
            return CostDecision(replicas, reason, message, cost, hosted, facts.break_even, provider)

        bound = self._bound(now, current, lo, p, turned_away=turned_away, holding=holding)
        if bound is not None:
            return decision(best, bound, best_cost)
        if unseen:  # no evidence to go down
            return decision(current, "MetricsMissing" if blind else "Measuring", now_cost)
        if best == current:
            return decision(current, "BurstStandby" if holding else "Cheapest", now_cost)
        sustained = best > current and held >= p.cold_start_s
        if self.overspent < switch and not sustained:
            return decision(current, "WithinColdStartCost", now_cost)
        if best > current and not self._still_rising(demand, capacity, prices, lo, current, p):
            return decision(current, "RiseEnded", now_cost)
        if best < current and paid_left > min(_PAID_SLACK_S, p.billing_s / 4):
            return decision(current, "WithinPaidPeriod", now_cost)
        self.overspent, self.direction, self.since = 0.0, 0, now
        if best < current:
            self.returns.released(now)
        if best > current:
            return decision(best, "LocalCheaper", best_cost)
        return decision(best, "HostedCheaper" if p.may_spill or best else "Idle", best_cost)
