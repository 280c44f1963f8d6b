"""Replicas kept warm for bursts past what the hosted providers take (``standby``), and how the
cost policy applies and explains them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.capacity import CapacityEstimate
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import (
    CostPolicy,
    Demand,
    Prices,
    plan_dollars_per_hour,
)
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.policies import cost_policy
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue
from gptoss_operator.autoscaling.spill import RouterSpill
from gptoss_operator.autoscaling.standby import BurstMemory, Standby
from gptoss_operator.autoscaling.turned_away import UNSERVED_SHARE

PROVIDERS = 2000.0  # output tokens/s the providers take before they turn requests away
CAPACITY = 1500.0  # output tokens/s one replica carries
TICK_S = 10.0
WINDOW_S = 4 * 3600.0
PRICES = Prices(replica_hourly=4.0, input_per_million=0.15, output_per_million=0.60)
RATIO = 7.5  # input tokens per output token
POLICY = CostPolicy(
    min_replicas=0,
    max_replicas=8,
    cold_start_s=180.0,
    prices=PRICES,
    may_spill=True,
    burst_standby_s=WINDOW_S,
)


def _burst(memory: BurstMemory, start: float, demand: float, ticks: int = 6) -> float:
    """A burst of ``demand`` output tokens/s that the providers serve up to ``PROVIDERS`` and
    turn the rest away, for ``ticks`` ticks from ``start``; returns the time after it."""
    t = start
    for _ in range(ticks):
        memory.observe(
            t,
            demand=demand,
            hosted=PROVIDERS,
            hosted_tick=PROVIDERS,
            unserved=demand - PROVIDERS,
            tick_s=TICK_S,
        )
        t += TICK_S
    return t


def _quiet(memory: BurstMemory, t: float, demand: float, hosted: float) -> None:
    memory.observe(t, demand=demand, hosted=hosted, hosted_tick=hosted, unserved=0.0, tick_s=TICK_S)


def _standby(memory: BurstMemory, now: float, window_s: float = WINDOW_S) -> Standby | None:
    return memory.standby(now, window_s=window_s, capacity=CAPACITY, max_replicas=8)


def test_what_the_providers_served_while_turning_requests_away_is_what_they_take() -> None:
    memory = BurstMemory()
    assert memory.providers is None  # never seen full: no limit known, none assumed
    _burst(memory, 0.0, PROVIDERS + 600.0)
    assert memory.providers == pytest.approx(PROVIDERS)


def test_a_burst_past_the_providers_keeps_a_replica_warm_until_a_quiet_window_passes() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    last = after - TICK_S
    held = _standby(memory, after)
    assert held is not None
    assert (held.replicas, held.bursts) == (1, 1)
    assert held.excess == pytest.approx(600.0)
    assert _standby(memory, last + WINDOW_S) is not None
    assert _standby(memory, last + WINDOW_S + TICK_S) is None


def test_the_standby_carries_the_largest_burst_of_the_window() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    after = _burst(memory, after + 3600.0, PROVIDERS + 2.5 * CAPACITY)
    held = _standby(memory, after)
    assert held is not None
    assert held.bursts == 2
    assert held.replicas == math.ceil(2.5 * CAPACITY / CAPACITY)


def test_demand_past_the_providers_is_a_burst_even_while_replicas_carry_it() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    # hours later, a replica absorbs the next burst: nothing is turned away, but the demand
    # is past what the providers take, so the burst is remembered and the window starts again
    later = after + 3 * 3600.0
    _quiet(memory, later, PROVIDERS + 900.0, PROVIDERS)
    held = _standby(memory, later + WINDOW_S - TICK_S)
    assert held is not None
    assert held.excess == pytest.approx(900.0)


def test_providers_seen_to_serve_more_without_turning_any_away_raise_the_estimate() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    _quiet(memory, after, 1.5 * PROVIDERS, 1.5 * PROVIDERS)  # their limit was raised
    assert memory.providers == pytest.approx(1.5 * PROVIDERS)


def test_providers_down_altogether_are_a_burst_but_teach_no_rate_limit() -> None:
    memory = BurstMemory()
    _burst(memory, 0.0, PROVIDERS + 600.0)
    outage = 3600.0
    memory.observe(outage, demand=800.0, hosted=0.0, hosted_tick=0.0, unserved=800.0, tick_s=TICK_S)
    assert memory.providers == pytest.approx(PROVIDERS)  # not pulled towards nothing
    held = _standby(memory, outage + TICK_S)
    assert held is not None and held.bursts == 2


def test_a_few_requests_failing_everywhere_are_not_a_burst() -> None:
    memory = BurstMemory()
    demand = 1000.0
    memory.observe(
        0.0,
        demand=demand,
        hosted=demand,
        hosted_tick=demand,
        unserved=UNSERVED_SHARE * demand / 2,
        tick_s=TICK_S,
    )
    assert memory.providers is None
    assert _standby(memory, TICK_S) is None


def test_a_blind_tick_teaches_nothing_about_the_providers() -> None:
    memory = BurstMemory()
    _burst(memory, 0.0, PROVIDERS + 600.0)
    # a router that did not answer: its providers look as if they served nothing
    memory.observe(
        3600.0,
        demand=PROVIDERS,
        hosted=0.0,
        hosted_tick=0.0,
        unserved=PROVIDERS,
        tick_s=TICK_S,
        blind=True,
    )
    assert memory.providers == pytest.approx(PROVIDERS)
    assert len(memory.bursts) == 1


def test_without_a_window_no_replica_is_kept_warm() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    assert _standby(memory, after, window_s=0.0) is None


def _quiet_demand() -> Demand:
    # below the break-even: the cheapest plan alone would host it all
    return Demand(tokens_per_s=300.0, input_per_output=RATIO)


def _held(memory: BurstMemory, now: float) -> Standby:
    held = _standby(memory, now)
    assert held is not None
    return held


def test_the_cost_policy_starts_the_standby_at_once_and_says_why() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    held = _held(memory, after + 600.0)
    wish = CostGovernor().decide(
        after + 600.0,
        _quiet_demand(),
        current=0,
        capacity=CAPACITY,
        policy=POLICY,
        ready=0,
        standby=held,
    )
    assert (wish.replicas, wish.reason) == (1, "BurstStandby")
    extra = plan_dollars_per_hour(1, _quiet_demand(), CAPACITY, PRICES) - plan_dollars_per_hour(
        0, _quiet_demand(), CAPACITY, PRICES
    )
    assert wish.message.startswith(
        "1 replica kept warm for bursts the providers cannot take: demand went past what they "
        f"take ({PROVIDERS:,.0f} tok/s) once in the last 4 h, by up to 600 tok/s, the last "
        f"{round(held.since_s / 60)} min ago;"
    )
    assert held.since_s == pytest.approx(600.0 + TICK_S)  # seen last one tick before ``after``
    assert f"${extra:.2f}/h above the cheapest plan" in wish.message


def test_the_cost_policy_holds_the_standby_and_says_so_then_gives_it_back_on_evidence() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    gone = after - TICK_S + WINDOW_S + TICK_S  # the first tick past the window
    governor = CostGovernor()
    decided: dict[float, tuple[int, str]] = {}
    current = 1
    for t in range(int(after), int(gone) + 1200, 10):
        wish = governor.decide(
            float(t),
            _quiet_demand(),
            current=current,
            capacity=CAPACITY,
            policy=POLICY,
            ready=current,
            standby=_standby(memory, float(t)),
        )
        decided[float(t)] = (wish.replicas, wish.reason)
        current = wish.replicas
    held = [r for t, r in decided.items() if t < gone]
    assert set(held) == {(1, "BurstStandby")}
    # past the window the cost rule decides alone: hosting is cheaper, but the replica goes
    # only once staying has overspent its cold start of GPU time, as any other
    assert decided[gone] == (1, "WithinColdStartCost")
    assert decided[max(decided)] == (0, "Cheapest")
    given_back = min(t for t, (n, _) in decided.items() if n == 0)
    overspend_per_s = (
        plan_dollars_per_hour(1, _quiet_demand(), CAPACITY, PRICES)
        - plan_dollars_per_hour(0, _quiet_demand(), CAPACITY, PRICES)
    ) / 3600.0
    cold_start_dollars = PRICES.replica_hourly * POLICY.cold_start_s / 3600.0
    assert given_back - gone == pytest.approx(cold_start_dollars / overspend_per_s, abs=2 * TICK_S)


def test_above_the_standby_the_cost_rule_decides_as_before() -> None:
    memory = BurstMemory()
    after = _burst(memory, 0.0, PROVIDERS + 600.0)
    busy = Demand(tokens_per_s=3 * CAPACITY, input_per_output=RATIO)
    wish = CostGovernor().decide(
        after,
        busy,
        current=3,
        capacity=CAPACITY,
        policy=POLICY,
        ready=3,
        standby=_held(memory, after),
    )
    assert (wish.replicas, wish.reason) == (3, "Cheapest")


def test_burst_standby_is_read_from_the_cr_and_off_by_default() -> None:
    spec = {
        "model": "gpt-oss-120b",
        "gpu": {"product": "H100-80GB"},
        "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "policy": "Cost"},
        "spillover": {"providers": ["groq"]},
    }
    default = cost_policy(GptOssDeploymentSpec.model_validate(spec))
    spec["autoscaling"] = {**spec["autoscaling"], "burstStandby": "1h30m"}  # type: ignore[dict-item]
    given = cost_policy(GptOssDeploymentSpec.model_validate(spec))
    assert default is not None and given is not None
    assert default.burst_standby_s == 0.0
    assert given.burst_standby_s == 90 * 60.0


def test_a_blind_tick_or_no_ready_replica_leaves_the_capacity_estimate_alone() -> None:
    estimate = CapacityEstimate()
    assert estimate.observe(CAPACITY, 0.0, ready=2, saturated=True, blind=True) == CAPACITY
    assert estimate.observe(CAPACITY, 0.0, ready=0, saturated=True, blind=False) == CAPACITY
    assert (estimate.value, estimate.samples) == (None, 0)


def test_the_last_tick_alone_is_kept_for_saturated_readings_the_minute_average_lags() -> None:
    meter = DemandMeter(window_s=60.0)
    per_request = 500.0
    replica, providers = 1500.0, 2000.0  # output tokens/s each serves from the step on
    # one request finished per reply of ``per_request`` tokens, locally and hosted alike; a
    # quiet minute before the step
    for second in range(-60, 20, 5):
        local = replica * max(second, 0)
        hosted = providers * max(second, 0) / per_request
        pod = PodQueue(4, 64, local, local, local / per_request)
        spill = RouterSpill(8, int(hosted), hosted, hosted * per_request, hosted * per_request)
        meter.observe(float(second), {"a": pod}, spill)
    assert meter.local_tick_tokens_per_s == pytest.approx(replica)
    assert meter.hosted_tick_per_s == pytest.approx(providers / per_request)  # requests/s
    # in tokens at the reply length measured so far (the minute's average, like the demand)
    assert meter.hosted_tick_tokens_per_s == pytest.approx(
        meter.hosted_tick_per_s * meter.output_per_request
    )
    # the minute's averages are still catching up: a replica measured on them would look
    # slower than it is, and providers would look as if they took less than they do
    assert meter.local_tokens_per_s < 0.5 * replica
    assert meter.hosted_per_s < 0.5 * meter.hosted_tick_per_s


@dataclass(frozen=True)
class _Readings:
    """What a demand meter reads in one tick (``cost_state.MeterReadings``)."""

    tokens_per_s: float
    input_per_output: float = RATIO
    unserved_tokens_per_s: float = 0.0
    hosted_tokens_per_s: float = 0.0
    hosted_tick_tokens_per_s: float = 0.0
    local_tick_tokens_per_s: float = 0.0
    output_per_request: float = 500.0
    window_s: float = 60.0
    pods_counted: int = 1
    fresh: bool = True
    settled: bool = True

    @property
    def unserved_minute_tokens_per_s(self) -> float:
        return self.unserved_tokens_per_s  # turned away for the whole minute

    @property
    def tick_tokens_per_s(self) -> float:
        return self.tokens_per_s  # steady over the minute


def test_a_blind_tick_neither_measures_a_replica_nor_learns_the_providers() -> None:
    state = CostState()
    # a router went silent: no hosted tokens, everything looks turned away, the replica idle
    silent = _Readings(
        tokens_per_s=PROVIDERS, unserved_tokens_per_s=PROVIDERS, local_tick_tokens_per_s=0.0
    )
    tick = state.decide(
        0.0, silent, POLICY, current=1, ready=1, saturated=True, blind=True, tick_s=TICK_S
    )
    assert tick.capacity == POLICY.capacity_prior
    assert state.bursts.providers is None and state.bursts.bursts == []
    assert tick.decision.reason != "BurstStandby"


def test_one_cost_tick_measures_remembers_and_decides_in_that_order() -> None:
    state = CostState()
    policy = replace(POLICY, capacity_prior=3 * CAPACITY)  # a prior that errs high
    full = _Readings(
        tokens_per_s=PROVIDERS + CAPACITY,
        unserved_tokens_per_s=CAPACITY,
        hosted_tokens_per_s=PROVIDERS,
        hosted_tick_tokens_per_s=PROVIDERS,
    )
    state.decide(0.0, full, policy, current=1, ready=0, saturated=False, blind=False, tick_s=TICK_S)
    served = _Readings(
        tokens_per_s=300.0, hosted_tokens_per_s=300.0, local_tick_tokens_per_s=CAPACITY
    )
    tick = state.decide(
        TICK_S, served, policy, current=1, ready=1, saturated=True, blind=False, tick_s=TICK_S
    )
    assert state.bursts.providers == pytest.approx(PROVIDERS)
    assert tick.capacity == pytest.approx(CAPACITY)  # the first measurement replaces the prior
    assert (tick.decision.replicas, tick.decision.reason) == (1, "BurstStandby")
    assert tick.demand.tokens_per_s == served.tokens_per_s
