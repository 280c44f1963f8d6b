"""A new operator (restarted, or a new leader) starts a new demand meter: it reads the demand as
it is from its first tick, not as a rise from nothing, and the cost policy gives no replica back
before it has measured a minute, so a rollout of the operator never costs a cold start."""

from __future__ import annotations

import pytest

from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import CostPolicy, Prices
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue
from gptoss_operator.autoscaling.spill import RouterSpill

PRICES = Prices(replica_hourly=2.69, input_per_million=0.15, output_per_million=0.60)
CAPACITY = 3000.0
TICK_S = 1.0


def _policy(*, may_spill: bool) -> CostPolicy:
    return CostPolicy(
        min_replicas=1,
        max_replicas=8,
        cold_start_s=180.0,
        prices=PRICES,
        may_spill=may_spill,
        capacity_prior=CAPACITY,
    )


def _after_restart(
    demand: float, replicas: int, *, may_spill: bool, ticks: int
) -> tuple[list[tuple[int, str]], list[float]]:
    """Every tick's decision and demand read by a new meter and policy, ``replicas`` serving
    ``demand`` output tokens/s (500 per request) up to their capacity, the rest spilled; the
    counters have run for a day before the restart."""
    meter, state = DemandMeter(), CostState()
    served = min(demand, replicas * CAPACITY)
    spilled_per_s = (demand - served) / 500.0
    decisions, read = [], []
    for tick in range(ticks):
        now = 86_400.0 + tick * TICK_S
        generated = served / replicas * now
        pods = {
            f"pod-{k}": PodQueue(0, 10, generated, generated, generated / 500.0)
            for k in range(replicas)
        }
        meter.observe(now, pods, RouterSpill(0, round(spilled_per_s * now)))
        wish = state.decide(
            now,
            meter,
            _policy(may_spill=may_spill),
            current=replicas,
            ready=replicas,
            saturated=served < demand,
            blind=False,
            tick_s=TICK_S,
        ).decision
        decisions.append((wish.replicas, wish.reason))
        read.append(meter.tokens_per_s)
    return decisions, read


@pytest.mark.parametrize(
    ("demand", "may_spill"), [(11_000.0, True), (9_500.0, False)], ids=["spill", "no-spill"]
)
def test_a_steady_demand_keeps_its_replicas_through_an_operator_restart(
    demand: float, may_spill: bool
) -> None:
    decisions, _ = _after_restart(demand, 4, may_spill=may_spill, ticks=900)
    assert {replicas for replicas, _ in decisions} == {4}


def test_the_first_measured_tick_reads_the_demand_as_it_is() -> None:
    _, read = _after_restart(11_000.0, 4, may_spill=True, ticks=3)
    assert read[0] == 0.0  # one reading measures nothing yet
    assert read[1] == pytest.approx(11_000.0, rel=0.01)


def test_fewer_replicas_read_in_the_first_minute_wait_for_a_whole_minute() -> None:
    decisions, _ = _after_restart(1_000.0, 4, may_spill=True, ticks=300)
    assert {reason for _, reason in decisions[:59]} == {"Measuring"}
    assert "Measuring" not in {reason for _, reason in decisions[61:]}
    # once measured, the evidence is gathered and the move made
    first_down = next(tick for tick, (replicas, _) in enumerate(decisions) if replicas < 4)
    assert first_down >= 60 and decisions[first_down][1] == "HostedCheaper"
