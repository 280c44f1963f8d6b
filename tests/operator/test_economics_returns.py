"""The cost policy's memory of how soon demand came back after it gave replicas back, and how
much evidence its next move down waits for (learning-augmented ski rental)."""

from __future__ import annotations

import pytest

from gptoss_operator.autoscaling.economics import CostPolicy, Demand, Prices
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.returns import LAMBDA, REMEMBERED, Returns, down_evidence

PRICES = Prices(replica_hourly=4.0, input_per_million=0.15, output_per_million=0.60)
POLICY = CostPolicy(0, 4, cold_start_s=180.0, prices=PRICES, may_spill=True)
SWITCH = 4.0 * 180.0 / 3600.0  # one cold start of one replica's GPU time: $0.20
TICK_S = 10.0


def test_without_a_history_a_move_down_waits_for_one_cold_start_of_gpu_time() -> None:
    assert Returns().predicted_s(0.0) is None
    assert down_evidence(SWITCH, 2.0, None) == SWITCH


def test_demand_that_stays_away_long_halves_the_evidence_and_soon_back_doubles_it() -> None:
    hold_s = 3600.0 * SWITCH / 2.0  # at $2/h of overspending: 360 s
    assert down_evidence(SWITCH, 2.0, hold_s + 1) == pytest.approx(SWITCH * LAMBDA)
    assert down_evidence(SWITCH, 2.0, hold_s - 1) == pytest.approx(SWITCH / LAMBDA)
    assert down_evidence(SWITCH, 0.0, hold_s + 1) == SWITCH  # nothing overspent: no rate


def test_the_prediction_is_the_median_of_the_last_returns_or_the_wait_so_far() -> None:
    returns = Returns()
    for released, back in [(0, 3600), (4000, 4100), (5000, 8600)]:
        returns.released(float(released))
        returns.rose(float(back))
    assert returns.predicted_s(9000.0) == 3600.0  # median of 3,600, 100 and 3,600
    returns.released(9000.0)
    assert returns.predicted_s(9000.0 + 5000.0) == 5000.0  # away longer than ever so far
    for k in range(REMEMBERED):
        returns.rose(20_000.0 + 100 * k)
        returns.released(20_000.0 + 100 * k + 10)
    assert returns.predicted_s(30_000.0) is not None
    assert len(returns.gaps) == REMEMBERED  # older returns are forgotten


def test_a_rise_with_nothing_given_back_teaches_nothing() -> None:
    returns = Returns()
    returns.rose(100.0)
    assert returns.predicted_s(200.0) is None


def _tick(governor: CostGovernor, now: float, demand: float, current: int) -> int:
    wish = governor.decide(
        now, Demand(demand, 7.5), current=current, capacity=1500.0, policy=POLICY
    )
    return wish.replicas


def _release(governor: CostGovernor, start: float, demand: float) -> float:
    """Ticks from ``start`` at ``demand`` with one replica; the seconds until it is given back."""
    now = start
    while _tick(governor, now, demand, current=1):
        now += TICK_S
        assert now < start + 3600.0, "never gave the replica back"
    return now - start


def _hosted(governor: CostGovernor, start: float, end: float, demand: float) -> None:
    """Ticks with no replica from ``start`` to ``end``."""
    for k in range(int((end - start) // TICK_S)):
        assert _tick(governor, start + k * TICK_S, demand, current=0) == 0


LOW, BURST = 300.0, 3000.0  # tok/s: below the break-even (hosting is cheaper), and far above


def test_bursts_an_hour_apart_teach_the_policy_to_give_their_replica_back_sooner() -> None:
    governor = CostGovernor()
    first = _release(governor, 0.0, LOW)
    _hosted(governor, first, 3600.0, LOW)
    _hosted(governor, 3600.0, 3630.0, BURST)  # a replica is the cheaper plan again
    assert governor.returns.gaps[-1] == pytest.approx(3600.0 - first)
    second = _release(governor, 3630.0, LOW)  # it was bought, the burst ended
    assert second == pytest.approx(first * LAMBDA, abs=2 * TICK_S)


def test_demand_that_comes_back_soon_makes_the_policy_hold_on_longer() -> None:
    governor = CostGovernor()
    first = _release(governor, 0.0, LOW)
    _hosted(governor, first, first + 60.0, LOW)
    _hosted(governor, first + 60.0, first + 90.0, BURST)  # back within a minute
    second = _release(governor, first + 90.0, LOW)
    assert second == pytest.approx(first / LAMBDA, abs=2 * TICK_S)
