"""The cost policy when its metrics go missing, lie or come back, and at the replica bounds: a
lost source never causes a move, a returning one never reads as a burst, and a bound moves the
replicas to the bound and no further."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import CostPolicy, Demand, Prices
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue, parse_vllm, read_pod
from gptoss_operator.autoscaling.spill import RouterSpill
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings

PRICES = Prices(replica_hourly=2.70, input_per_million=0.15, output_per_million=0.60)
CAPACITY = 1000.0
POLICY = CostPolicy(
    min_replicas=0, max_replicas=8, cold_start_s=180.0, prices=PRICES, may_spill=True
)
NO_SPILL = RouterSpill(0, 0)


def _demand(tokens_per_s: float) -> Demand:
    return Demand(tokens_per_s=tokens_per_s, input_per_output=2.0)


def _pods(generated: dict[str, float]) -> dict[str, PodQueue]:
    return {
        name: PodQueue(0, 4, tokens, tokens, tokens / 500) for name, tokens in generated.items()
    }


def test_a_silent_replica_neither_lowers_the_demand_read_nor_reads_as_a_burst_when_back() -> None:
    """Two replicas serve 2,500 tok/s each; b's metrics are missing for a minute and a half."""
    meter = DemandMeter()
    served = {"a": 0.0, "b": 0.0}
    readings = []
    for second in range(600):
        served = {name: tokens + 2500.0 for name, tokens in served.items()}
        silent = 300 <= second < 390
        pods = _pods({"a": served["a"]} if silent else served)
        meter.observe(float(second), pods, NO_SPILL, complete=not silent)
        readings.append(meter.tokens_per_s)
    steady = readings[299]
    assert steady == pytest.approx(5000.0, rel=0.01)
    assert min(readings[300:]) == pytest.approx(steady, rel=0.01)
    assert max(readings[300:]) == pytest.approx(5000.0, rel=0.01)


def test_a_router_silent_for_two_minutes_adds_no_burst_of_spill_when_it_answers() -> None:
    meter = DemandMeter(output_per_request=500.0)
    spilled = 0
    for second in range(400):
        spilled += 2
        silent = 100 <= second < 220
        meter.observe(
            float(second),
            _pods({"a": 1000.0 * second}),
            RouterSpill(0, 0 if silent else spilled),
            complete=not silent,
        )
        assert meter.spilled_tick_per_s <= 2.0 + 1e-9


def test_a_replica_measured_as_it_becomes_ready_is_not_counted_at_half_its_rate() -> None:
    """A second replica turns Ready in a saturated tick: its first reading is a baseline, so
    the tokens counted are the first replica's alone and are divided by one, not two."""
    meter, state = DemandMeter(), CostState()
    meter.observe(0.0, _pods({"a": 0.0}), NO_SPILL)
    meter.observe(1.0, _pods({"a": 3000.0, "b": 3000.0}), NO_SPILL)
    tick = state.decide(
        1.0, meter, POLICY, current=2, ready=2, saturated=True, blind=False, tick_s=1.0
    )
    assert meter.pods_counted == 1
    assert tick.capacity == pytest.approx(3000.0)


def test_a_blind_tick_neither_gives_a_replica_back_nor_gathers_evidence_for_it() -> None:
    governor = CostGovernor()
    for second in range(0, 200, 10):  # blind: the demand read is what the silent pods hide
        wish = governor.decide(
            float(second), _demand(100.0), current=2, capacity=CAPACITY, policy=POLICY, blind=True
        )
        assert (wish.replicas, wish.reason) == (2, "MetricsMissing")
        assert wish.message.startswith("hosted would be cheaper with 0 replicas on the metrics")
    assert governor.overspent == 0.0
    assert governor.returns.released_at is None
    seen = governor.decide(200.0, _demand(100.0), current=2, capacity=CAPACITY, policy=POLICY)
    assert (seen.replicas, seen.reason) == (2, "WithinColdStartCost")  # evidence starts now


def test_a_blind_tick_still_buys_what_the_demand_it_sees_calls_for() -> None:
    governor = CostGovernor()
    wishes = [
        governor.decide(
            float(second), _demand(2500.0), current=0, capacity=CAPACITY, policy=POLICY, blind=True
        )
        for second in range(0, 400, 10)
    ]
    bought = [w for w in wishes if w.replicas > 0]
    assert bought
    assert bought[0].reason == "LocalCheaper"


def test_a_lowered_max_replicas_moves_to_the_bound_at_once_and_says_so() -> None:
    capped = CostPolicy(
        min_replicas=0, max_replicas=3, cold_start_s=180.0, prices=PRICES, may_spill=True
    )
    wish = CostGovernor().decide(
        0.0, _demand(15_000.0), current=5, capacity=CAPACITY, policy=capped
    )
    assert (wish.replicas, wish.reason) == (3, "AboveMaxReplicas")
    assert wish.message.startswith("3 replicas at most: maxReplicas")


def test_a_count_below_min_replicas_rises_to_the_minimum_and_the_rest_waits_for_evidence() -> None:
    floor = CostPolicy(
        min_replicas=1, max_replicas=8, cold_start_s=180.0, prices=PRICES, may_spill=True
    )
    governor = CostGovernor()
    wish = governor.decide(0.0, _demand(9000.0), current=0, capacity=CAPACITY, policy=floor)
    assert (wish.replicas, wish.reason) == (1, "BelowMinReplicas")
    assert wish.message.startswith("1 replica at least: minReplicas")
    more = governor.decide(10.0, _demand(9000.0), current=1, capacity=CAPACITY, policy=floor)
    assert (more.replicas, more.reason) == (1, "WithinColdStartCost")


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-1"])
def test_a_pod_whose_metrics_are_not_finite_counts_is_not_read(value: str) -> None:
    text = f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting {value}\n"
    with pytest.raises(ValueError, match="vllm:num_requests_waiting is"):
        parse_vllm(text)
    transport = httpx.MockTransport(lambda _: httpx.Response(200, text=text))

    async def read() -> PodQueue | None:
        async with httpx.AsyncClient(transport=transport) as http:
            return await read_pod(http, "http://pod/metrics")

    assert asyncio.run(read()) is None


def test_an_autoscaler_tick_that_fails_unexpectedly_does_not_stop_the_next_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = OperatorSettings(autoscale_interval_seconds=0.001)
    autoscaler = Autoscaler(
        kube=cast(Kube, None), settings=settings, http=cast(httpx.AsyncClient, None)
    )
    ticks: list[int] = []

    async def tick(_: Any) -> list[Any]:
        ticks.append(1)
        if len(ticks) == 1:
            raise OverflowError("cannot convert float infinity to integer")
        if len(ticks) == 3:
            raise asyncio.CancelledError
        return []

    autoscaler.tick = tick  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR), pytest.raises(asyncio.CancelledError):
        asyncio.run(autoscaler.forever(logging.getLogger("test")))
    assert len(ticks) == 3
    assert "autoscaler tick failed" in caplog.text


def test_the_tick_after_a_silence_measures_no_replica_from_the_figures_it_held() -> None:
    """The meter holds an idle tick's figures through a silence; the tick after it is saturated
    but measured nothing, so the idle figure is not taken for a saturated replica's rate."""
    meter, state = DemandMeter(), CostState()
    meter.observe(0.0, _pods({"a": 0.0}), NO_SPILL)
    meter.observe(1.0, _pods({"a": 100.0}), NO_SPILL)  # 100 tok/s, unsaturated
    meter.observe(2.0, {}, NO_SPILL, complete=False)
    meter.observe(3.0, _pods({"a": 3100.0}), NO_SPILL)  # back: measured nothing yet
    assert not meter.fresh
    tick = state.decide(
        3.0, meter, POLICY, current=1, ready=1, saturated=True, blind=False, tick_s=1.0
    )
    assert tick.capacity == POLICY.capacity_prior
