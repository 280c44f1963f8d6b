"""The cost policy without spill once requests stop: the replica that had to carry them is
given back after one cold start of idle GPU time, not kept while the smoothed demand decays."""

from __future__ import annotations

from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import CostPolicy, Prices
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue
from gptoss_operator.autoscaling.spill import RouterSpill

PRICES = Prices(replica_hourly=5.38, input_per_million=0.15, output_per_million=0.60)
COLD_START_S = 180.0
TICK_S = 10.0
NO_SPILL = CostPolicy(
    min_replicas=0,
    max_replicas=4,
    cold_start_s=COLD_START_S,
    prices=PRICES,
    may_spill=False,
    capacity_prior=2000.0,
)


def _replay(requests_at: list[float], until_s: float) -> list[tuple[float, int, str]]:
    """A replica serving a 600-token reply at each of ``requests_at``, or while there is none,
    the router finding no backend for it; every tick's decision (time, replicas, reason), the
    decided replicas taken as ready at once."""
    meter, state = DemandMeter(output_per_request=600.0), CostState()
    generated, unserved, current, seen = 0.0, 0, 1, []
    arrivals = sorted(requests_at)
    now = 0.0
    while now <= until_s:
        while arrivals and arrivals[0] <= now:
            arrivals.pop(0)
            if current:
                generated += 600.0
            else:
                unserved += 1
        pods = {"a": PodQueue(0, 0, generated, generated, generated / 600.0)} if current else {}
        meter.observe(now, pods, RouterSpill(0, unserved, unserved=unserved))
        tick = state.decide(
            now,
            meter,
            NO_SPILL,
            current=current,
            ready=current,
            saturated=False,
            blind=False,
            tick_s=TICK_S,
        )
        current = tick.decision.replicas
        seen.append((now, current, tick.decision.reason))
        now += TICK_S
    return seen


def _released_at(seen: list[tuple[float, int, str]]) -> float:
    return next(t for t, replicas, _ in seen if replicas == 0)


def test_one_request_keeps_the_replica_for_about_a_cold_start_not_for_hours() -> None:
    seen = _replay([30.0], until_s=3600.0)
    released = _released_at(seen)
    assert 30.0 + COLD_START_S <= released <= 30.0 + COLD_START_S + 120.0
    assert all(replicas == 0 for t, replicas, _ in seen if t >= released)


def test_requests_every_minute_keep_the_replica() -> None:
    seen = _replay([60.0 * k for k in range(1, 30)], until_s=30 * 60.0)
    assert all(replicas == 1 for _, replicas, _ in seen)


def test_the_release_is_said_as_the_demand_having_ended() -> None:
    seen = _replay([30.0], until_s=3600.0)
    released = _released_at(seen)
    reason = next(r for t, _, r in seen if t == released)
    assert reason == "Idle"


def test_the_message_says_the_next_request_waits_for_a_replica() -> None:
    meter, state = DemandMeter(output_per_request=600.0), CostState()
    meter.observe(0.0, {}, RouterSpill(0, 0))
    meter.observe(10.0, {}, RouterSpill(0, 0))
    tick = state.decide(
        10.0, meter, NO_SPILL, current=0, ready=0, saturated=False, blind=False, tick_s=TICK_S
    )
    assert tick.decision.replicas == 0
    assert tick.decision.message.startswith("the demand has ended: no replica")


def test_a_request_after_the_release_brings_a_replica_back_at_once() -> None:
    seen = _replay([30.0, 1800.0], until_s=1900.0)
    assert _released_at(seen) < 1800.0
    back = [(replicas, reason) for t, replicas, reason in seen if t == 1800.0]
    assert back == [(1, "LatencyBound")]
