"""Requests turned away by every provider count as full providers only beyond chance: a share of
a small count is no evidence (``autoscaling/turned_away.py``)."""

from __future__ import annotations

import math

import pytest

from gptoss_operator.autoscaling.economics import CostPolicy, Demand, Prices
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.standby import BurstMemory
from gptoss_operator.autoscaling.turned_away import beyond_share, poisson_quantile

PRICES = Prices(replica_hourly=2.70, input_per_million=0.15, output_per_million=0.60)
POLICY = CostPolicy(
    min_replicas=0, max_replicas=8, cold_start_s=180.0, prices=PRICES, may_spill=True
)


def _poisson_cdf(k: int, mean: float) -> float:
    return sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1))


@pytest.mark.parametrize("mean", [0.1, 0.6, 1.0, 3.0, 12.0, 49.0])
def test_the_quantile_is_the_least_count_whose_cumulative_probability_reaches_the_confidence(
    mean: float,
) -> None:
    k = poisson_quantile(mean, 0.99)
    assert _poisson_cdf(k, mean) >= 0.99
    assert k == 0 or _poisson_cdf(k - 1, mean) < 0.99


def test_past_fifty_the_normal_approximation_stays_within_two_of_the_exact_quantile() -> None:
    exact = next(k for k in range(200) if _poisson_cdf(k, 60.0) >= 0.99)
    assert abs(poisson_quantile(60.0, 0.99) - exact) <= 2
    assert poisson_quantile(100_000.0, 0.99) == pytest.approx(100_000 + 2.326 * 316.2, abs=2)


def test_one_request_of_sixty_is_no_evidence_and_four_are() -> None:
    assert not beyond_share(1, 60)  # a share of 1.7 %, but 1 % of 60 is 0.6 by chance
    assert not beyond_share(3, 60)
    assert beyond_share(4, 60)


def test_with_many_requests_the_share_itself_decides() -> None:
    assert beyond_share(2_000, 100_000)  # 2 %
    assert not beyond_share(1_000, 100_000)  # exactly 1 %
    assert not beyond_share(0, 0)


def _minute(unserved_share: float, requests: float) -> Demand:
    """A minute of 1,500 output tokens/s over ``requests`` requests, ``unserved_share`` of them
    turned away by every provider."""
    return Demand(
        1500.0,
        2.0,
        unserved_tokens_per_s=1500.0 * unserved_share,
        unserved_tick_tokens_per_s=1500.0 * unserved_share,
        requests_counted=requests,
    )


def test_one_request_turned_away_in_a_quiet_minute_does_not_buy_a_gpu() -> None:
    wish = CostGovernor().decide(
        0.0, _minute(1 / 60, 60), current=0, capacity=1000.0, policy=POLICY, ready=0
    )
    assert wish.reason != "ProvidersFull"
    assert wish.replicas == 0


def test_the_same_share_of_a_busy_minute_is_full_providers() -> None:
    wish = CostGovernor().decide(
        0.0, _minute(1 / 60, 6_000), current=0, capacity=1000.0, policy=POLICY, ready=0
    )
    assert (wish.reason, wish.replicas) == ("ProvidersFull", 1)


def test_without_a_count_the_share_alone_decides_as_before() -> None:
    wish = CostGovernor().decide(
        0.0, _minute(1 / 60, None), current=0, capacity=1000.0, policy=POLICY, ready=0
    )
    assert wish.reason == "ProvidersFull"


def test_one_request_turned_away_in_a_tick_teaches_no_limit_of_the_providers() -> None:
    memory = BurstMemory()
    # 10 s at 1,000 tok/s of 500-token requests: 20 requests, one of them turned away (5 %)
    memory.observe(
        0.0,
        demand=1000.0,
        hosted=950.0,
        hosted_tick=950.0,
        unserved=50.0,
        tick_s=10.0,
        output_per_request=500.0,
    )
    assert memory.providers is None
    assert memory.bursts == []
    # ten of them turned away: the providers took all they would
    memory.observe(
        10.0,
        demand=1000.0,
        hosted=500.0,
        hosted_tick=500.0,
        unserved=500.0,
        tick_s=10.0,
        output_per_request=500.0,
    )
    assert memory.providers == 500.0
    assert len(memory.bursts) == 1
