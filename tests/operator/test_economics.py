"""The cost model (break-even, cheapest plan) and the cost policy's cold-start hysteresis."""

from __future__ import annotations

import pytest

from gptoss_operator.autoscaling.capacity import updated_capacity
from gptoss_operator.autoscaling.economics import (
    CostPolicy,
    Demand,
    Prices,
    break_even_tokens_per_s,
    cheapest_replicas,
    hosted_dollars_per_hour,
    plan_dollars_per_hour,
)
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.prices import HostedQuote

# One replica at $2.70/h; providers at $0.15 in / $0.60 out per million; two input tokens per
# output token. By hand: a hosted output token costs (0.60 + 2 x 0.15) / 1e6 = $0.9e-6, so one
# replica-hour buys 2.70 / 0.9e-6 = 3,000,000 output tokens, i.e. 3e6 / 3600 = 833.33 tokens/s.
PRICES = Prices(replica_hourly=2.70, input_per_million=0.15, output_per_million=0.60)
RATIO = 2.0
BREAK_EVEN = 3_000_000 / 3600
CAPACITY = 1000.0
COLD_START_S = 180.0
POLICY = CostPolicy(
    min_replicas=0, max_replicas=8, cold_start_s=COLD_START_S, prices=PRICES, may_spill=True
)


def _demand(tokens_per_s: float) -> Demand:
    return Demand(tokens_per_s=tokens_per_s, input_per_output=RATIO)


def test_the_break_even_is_the_demand_where_one_replica_costs_what_hosting_it_costs() -> None:
    assert break_even_tokens_per_s(_demand(0), PRICES) == pytest.approx(BREAK_EVEN)
    at_break_even = _demand(BREAK_EVEN)
    local = plan_dollars_per_hour(1, at_break_even, CAPACITY, PRICES)
    hosted = hosted_dollars_per_hour(BREAK_EVEN, at_break_even, PRICES)
    assert local == pytest.approx(2.70)
    assert hosted == pytest.approx(2.70)


def test_below_the_break_even_hosting_is_cheapest_and_above_it_a_replica_is() -> None:
    assert cheapest_replicas(_demand(BREAK_EVEN - 1), CAPACITY, PRICES, 0, 8) == 0
    assert cheapest_replicas(_demand(BREAK_EVEN + 1), CAPACITY, PRICES, 0, 8) == 1


def test_the_last_replica_is_added_only_if_its_share_of_demand_passes_the_break_even() -> None:
    # Two full replicas carry 2,000 tokens/s; the third sees only the remainder.
    assert cheapest_replicas(_demand(2000 + 800), CAPACITY, PRICES, 0, 8) == 2
    assert cheapest_replicas(_demand(2000 + 900), CAPACITY, PRICES, 0, 8) == 3
    overflow = plan_dollars_per_hour(2, _demand(2800), CAPACITY, PRICES)
    assert overflow == pytest.approx(2 * 2.70 + 800 * 3600 * 0.9e-6)


def test_the_cheapest_plan_stays_within_the_bounds() -> None:
    assert cheapest_replicas(_demand(0), CAPACITY, PRICES, 2, 8) == 2
    assert cheapest_replicas(_demand(50_000), CAPACITY, PRICES, 0, 3) == 3


def test_a_saturated_replica_pulls_the_capacity_estimate_towards_what_it_served() -> None:
    lowered = updated_capacity(1000.0, 600.0, saturated=True)
    assert 600.0 < lowered < 1000.0
    assert updated_capacity(1000.0, 600.0, saturated=False) == 1000.0
    assert updated_capacity(1000.0, 1400.0, saturated=False) == 1400.0


def _run(governor: CostGovernor, demand: float, current: int, times: range) -> list[int]:
    return [
        governor.decide(
            float(t), _demand(demand), current=current, capacity=CAPACITY, policy=POLICY
        ).replicas
        for t in times
    ]


def test_a_wide_margin_buys_a_replica_once_it_has_overspent_one_cold_start() -> None:
    # A replica that carries five break-evens saves 4 x $2.70/h = $10.80/h; a cold start costs
    # 2.70 x 180 / 3600 = $0.135, overspent after 0.0125 h = 45 s, well before the 180 s of
    # the time rule.
    capacity = 5 * BREAK_EVEN
    governor = CostGovernor()
    decided = [
        governor.decide(
            float(t), _demand(capacity), current=0, capacity=capacity, policy=POLICY
        ).replicas
        for t in range(0, 45, 5)
    ]
    assert set(decided) == {0}
    wish = governor.decide(46.0, _demand(capacity), current=0, capacity=capacity, policy=POLICY)
    assert (wish.replicas, wish.reason) == (1, "LocalCheaper")


def test_evidence_from_a_spike_buys_nothing_once_the_last_tick_no_longer_calls_for_it() -> None:
    capacity = 5 * BREAK_EVEN
    governor = CostGovernor()
    for t in range(0, 45, 5):  # the spike: the evidence of the wide margin is nearly in
        governor.decide(float(t), _demand(capacity), current=0, capacity=capacity, policy=POLICY)
    # the minute's average still lags high, but the last tick's demand is back to a trickle
    ended = Demand(capacity, RATIO, tick_tokens_per_s=100.0)
    wish = governor.decide(46.0, ended, current=0, capacity=capacity, policy=POLICY)
    assert (wish.replicas, wish.reason) == (0, "RiseEnded")
    assert "last tick's 100 tok/s no longer calls for them" in wish.message
    going = Demand(capacity, RATIO, tick_tokens_per_s=capacity)  # still there: it buys
    wish = governor.decide(47.0, going, current=0, capacity=capacity, policy=POLICY)
    assert (wish.replicas, wish.reason) == (1, "LocalCheaper")


def test_a_thin_margin_held_for_one_cold_start_buys_a_replica() -> None:
    # 1,000 tokens/s against a break-even of 833: $0.54/h saved, far from a cold start's $0.135
    # after 180 s ($0.027), but the cheaper plan held for a whole cold start.
    governor = CostGovernor()
    decided = _run(governor, 1000.0, 0, range(0, 180, 10))
    assert set(decided) == {0}
    wish = governor.decide(180.0, _demand(1000.0), current=0, capacity=CAPACITY, policy=POLICY)
    assert (wish.replicas, wish.reason) == (1, "LocalCheaper")
    assert wish.local_dollars_per_hour == pytest.approx(2.70)
    assert wish.hosted_dollars_per_hour == pytest.approx(3.24)


def test_a_spike_shorter_than_a_cold_start_is_served_hosted() -> None:
    governor = CostGovernor()
    spike = _run(governor, 1200.0, 0, range(0, 170, 5))
    after = _run(governor, 100.0, 0, range(170, 3600, 5))
    assert set(spike) | set(after) == {0}


def test_demand_wandering_around_the_break_even_never_flips_the_plan() -> None:
    governor = CostGovernor()
    decided = []
    for minute in range(24 * 60):
        demand = BREAK_EVEN * (1.1 if minute % 10 < 5 else 0.9)  # 5 minutes above, 5 below
        wish = governor.decide(
            minute * 60.0, _demand(demand), current=1, capacity=CAPACITY, policy=POLICY
        )
        decided.append(wish.replicas)
    assert set(decided) == {1}


def test_an_idle_replica_is_given_back_after_one_cold_start_of_idle_gpu_time() -> None:
    # Idle, the replica overspends its whole $2.70/h; a cold start is $0.135: 180 s.
    governor = CostGovernor()
    assert set(_run(governor, 0.0, 1, range(0, 180, 5))) == {1}
    wish = governor.decide(181.0, _demand(0.0), current=1, capacity=CAPACITY, policy=POLICY)
    assert (wish.replicas, wish.reason) == (0, "HostedCheaper")


def test_a_change_of_direction_starts_the_evidence_afresh() -> None:
    governor = CostGovernor()
    _run(governor, 1000.0, 0, range(0, 170, 10))  # 170 of the 180 s
    _run(governor, 0.0, 0, range(170, 180, 10))  # demand gone: nothing to buy
    assert set(_run(governor, 1000.0, 0, range(180, 350, 10))) == {0}


def test_without_spill_the_replicas_to_carry_the_demand_come_at_once() -> None:
    no_spill = CostPolicy(
        min_replicas=0, max_replicas=8, cold_start_s=COLD_START_S, prices=PRICES, may_spill=False
    )
    wish = CostGovernor().decide(
        0.0, _demand(2500.0), current=1, capacity=CAPACITY, policy=no_spill
    )
    assert (wish.replicas, wish.reason) == (3, "LatencyBound")


def test_the_message_names_the_dollars_it_compared() -> None:
    wish = CostGovernor().decide(0.0, _demand(1000.0), current=0, capacity=CAPACITY, policy=POLICY)
    assert "all hosted $3.24/h" in wish.message
    assert "1 replica $2.70/h" in wish.message
    assert wish.reason == "WithinColdStartCost"
    assert wish.message.startswith("local would be cheaper with 1 replica, waiting for evidence")


def test_a_count_below_the_minimum_is_raised_at_once() -> None:
    floor = CostPolicy(
        min_replicas=2, max_replicas=8, cold_start_s=COLD_START_S, prices=PRICES, may_spill=True
    )
    wish = CostGovernor().decide(0.0, _demand(0.0), current=0, capacity=CAPACITY, policy=floor)
    assert (wish.replicas, wish.reason) == (2, "BelowMinReplicas")


def test_the_break_even_of_a_two_gpu_replica_is_twice_that_of_one() -> None:
    one = CostPolicy(0, 8, COLD_START_S, PRICES, may_spill=True, gpus=1)
    two = CostPolicy(
        0, 8, COLD_START_S, Prices(2 * 2.70, 0.15, 0.60), may_spill=True, gpus=2, product="H100"
    )
    at = _demand(1000.0)
    one_even = CostGovernor().decide(0.0, at, current=0, capacity=4000.0, policy=one)
    two_even = CostGovernor().decide(0.0, at, current=0, capacity=4000.0, policy=two)
    assert two_even.break_even_tokens_per_s == pytest.approx(2 * one_even.break_even_tokens_per_s)
    assert "for 2 x H100 at $2.70/h" in two_even.message


def test_the_cheapest_admissible_provider_prices_the_overflow() -> None:
    quotes = (HostedQuote("dear", 0.30, 1.20), HostedQuote("cheap", 0.10, 0.40))
    policy = CostPolicy(0, 8, COLD_START_S, PRICES, may_spill=True, quotes=quotes)
    prices, provider = policy.priced(RATIO)
    assert provider == "cheap"
    assert prices.per_output_token(RATIO) == pytest.approx((0.40 + 2 * 0.10) / 1e6)
    wish = CostGovernor().decide(0.0, _demand(100.0), current=0, capacity=CAPACITY, policy=policy)
    assert wish.provider == "cheap"
    assert wish.break_even_tokens_per_s == pytest.approx(2.70 / (3600 * 0.6e-6))


def test_providers_turning_requests_away_add_the_replicas_to_carry_them_at_once() -> None:
    turned_away = Demand(tokens_per_s=1500.0, input_per_output=RATIO, unserved_tokens_per_s=900.0)
    wish = CostGovernor().decide(
        0.0, turned_away, current=1, capacity=CAPACITY, policy=POLICY, ready=0
    )
    assert (wish.replicas, wish.reason) == (1, "Cheapest")  # one is already loading
    wish = CostGovernor().decide(
        0.0, turned_away, current=0, capacity=CAPACITY, policy=POLICY, ready=0
    )
    assert (wish.replicas, wish.reason) == (1, "ProvidersFull")
    assert wish.message.startswith("1 replica needed at once: the providers turned 900 tok/s")


def test_one_bad_tick_is_not_full_providers_while_the_minute_stays_under_one_percent() -> None:
    # 60 tok/s failed in the last tick (4 % of 1,500), 0.4 % over the minute: bad luck
    blip = Demand(1500.0, RATIO, unserved_tokens_per_s=6.0, unserved_tick_tokens_per_s=60.0)
    wish = CostGovernor().decide(0.0, blip, current=0, capacity=CAPACITY, policy=POLICY, ready=0)
    assert wish.reason != "ProvidersFull"
    # the same tick after a minute of failures: the providers are full, carry the last tick's rate
    full = Demand(1500.0, RATIO, unserved_tokens_per_s=30.0, unserved_tick_tokens_per_s=1200.0)
    wish = CostGovernor().decide(0.0, full, current=0, capacity=CAPACITY, policy=POLICY, ready=0)
    assert (wish.replicas, wish.reason) == (2, "ProvidersFull")


def test_a_rare_request_failing_everywhere_does_not_buy_a_gpu() -> None:
    unlucky = Demand(tokens_per_s=300.0, input_per_output=RATIO, unserved_tokens_per_s=2.0)
    wish = CostGovernor().decide(0.0, unlucky, current=0, capacity=CAPACITY, policy=POLICY, ready=0)
    assert (wish.replicas, wish.reason) == (0, "Cheapest")


def test_billed_by_the_hour_a_replica_is_kept_to_the_end_of_the_hour_it_paid_for() -> None:
    hourly = CostPolicy(0, 8, COLD_START_S, PRICES, may_spill=True, billing_s=3600.0)
    governor = CostGovernor()
    # idle from t = 0: the evidence to give it back is in after a cold start, but the newest
    # replica started 1,000 s ago and has 2,600 s of its hour left
    for t in range(0, 2400, 10):
        wish = governor.decide(
            float(t),
            _demand(0.0),
            current=1,
            capacity=CAPACITY,
            policy=hourly,
            newest_age_s=1000 + t,
        )
        assert wish.replicas == 1, t
    assert wish.reason == "WithinPaidPeriod"
    assert "s left of the newest one's billing period" in wish.message
    wish = governor.decide(
        2560.0, _demand(0.0), current=1, capacity=CAPACITY, policy=hourly, newest_age_s=3560.0
    )
    assert (wish.replicas, wish.reason) == (0, "HostedCheaper")


def test_billed_by_the_hour_a_wide_margin_buys_on_the_time_rule_not_on_dollars() -> None:
    hourly = CostPolicy(0, 8, COLD_START_S, PRICES, may_spill=True, billing_s=3600.0)
    capacity = 5 * BREAK_EVEN  # saves $10.80/h: a cold start's $0.135 in 45 s, an hour's $2.70
    governor = CostGovernor()  # in 900 s; the time rule still buys after one cold start
    decided = [
        governor.decide(
            float(t), _demand(capacity), current=0, capacity=capacity, policy=hourly
        ).replicas
        for t in range(0, 180, 5)
    ]
    assert set(decided) == {0}
    wish = governor.decide(180.0, _demand(capacity), current=0, capacity=capacity, policy=hourly)
    assert (wish.replicas, wish.reason) == (1, "LocalCheaper")


def test_giving_back_some_replicas_says_fewer_are_cheaper() -> None:
    # 1,500 tokens/s: one replica and 500 hosted cost 2.70 + 1.62 = $4.32/h against three
    # replicas' $8.10/h; two cold starts of GPU time, $0.27, are overspent after 257 s.
    governor = CostGovernor()
    decided = _run(governor, 1500.0, 3, range(0, 250, 10))
    assert set(decided) == {3}
    wish = governor.decide(260.0, _demand(1500.0), current=3, capacity=CAPACITY, policy=POLICY)
    assert (wish.replicas, wish.reason) == (1, "HostedCheaper")
    assert wish.message.startswith("fewer replicas are cheaper: 1 replica, the rest hosted: ")
