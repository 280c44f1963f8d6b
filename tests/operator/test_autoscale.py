"""The autoscaler's decisions (pure) and how it reads vLLM and router metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from gptoss_operator.autoscaling.decide import (
    Policy,
    Signals,
    Stabilizer,
    parse_duration,
    recommend,
)
from gptoss_operator.autoscaling.signals import parse_vllm
from gptoss_operator.autoscaling.spill import parse_router

POLICY = Policy(
    min_replicas=0, max_replicas=6, target_queue_depth=4, scale_down_delay_s=300, max_num_seqs=64
)


def _signals(ready: int = 1, waiting: int = 0, running: int = 0, spilled: int = 0) -> Signals:
    return Signals(ready=ready, waiting=waiting, running=running, spilled=spilled)


def test_a_queue_over_target_adds_a_replica_per_target_of_excess() -> None:
    wish = recommend(_signals(ready=2, waiting=10, running=128, spilled=6), POLICY)
    excess = 10 + 6 - POLICY.target_queue_depth * 2
    assert wish.replicas == 2 + -(-excess // POLICY.target_queue_depth)
    assert wish.reason == "QueueAboveTarget"
    assert "spilled 6" in wish.message


def test_a_queue_at_target_holds_the_current_replicas() -> None:
    wish = recommend(_signals(ready=2, waiting=8, running=128), POLICY)
    assert (wish.replicas, wish.reason) == (2, "WithinTarget")


def test_the_first_spilled_request_asks_for_a_replica_from_zero() -> None:
    wish = recommend(_signals(ready=0, spilled=1), POLICY)
    assert wish.replicas == 1


def test_no_demand_at_all_asks_for_the_minimum() -> None:
    assert recommend(_signals(ready=3), POLICY).replicas == POLICY.min_replicas


def test_light_load_on_several_replicas_gives_one_back() -> None:
    light = recommend(_signals(ready=3, running=20), POLICY)
    assert (light.replicas, light.reason) == (2, "Underused")
    busy = recommend(_signals(ready=3, running=100), POLICY)
    assert busy.replicas == 3


def test_scaling_up_is_immediate_and_bounded_by_max() -> None:
    window = Stabilizer([(0.0, 1)])
    assert window.decide(1.0, 4, current=1, policy=POLICY) == 4
    assert window.decide(2.0, 50, current=4, policy=POLICY) == POLICY.max_replicas


def test_scaling_down_waits_for_the_whole_window_without_flapping() -> None:
    window = Stabilizer([(0.0, 4)])
    decided = [window.decide(t, 1, current=4, policy=POLICY) for t in (10.0, 100.0, 299.0)]
    assert decided == [4, 4, 4]
    assert window.decide(301.0, 1, current=4, policy=POLICY) == 1


def test_a_dip_inside_the_window_does_not_scale_down() -> None:
    window = Stabilizer([(0.0, 3)])
    window.decide(100.0, 1, current=3, policy=POLICY)
    window.decide(200.0, 3, current=3, policy=POLICY)
    assert window.decide(350.0, 1, current=3, policy=POLICY) == 3


def test_durations_read_like_the_crd_documents() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400
    with pytest.raises(ValueError, match="1x"):
        parse_duration("1x")


VLLM_METRICS = """\
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="gpt-oss-20b"} 7.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="gpt-oss-20b"} 32.0
"""


def _router_metrics() -> str:
    """Router metrics as prometheus_client writes them (the router's own library)."""
    registry = CollectorRegistry()
    inflight = Gauge("gptoss_router_spilled_inflight", "x", ["model"], registry=registry)
    spilled = Counter("gptoss_router_spilled_requests", "x", ["model", "reason"], registry=registry)
    inflight.labels("gpt-oss-20b").set(3)
    inflight.labels("gpt-oss-120b").set(9)
    spilled.labels("gpt-oss-20b", "saturated").inc(11)
    spilled.labels("gpt-oss-20b", "scaled_to_zero").inc(4)
    spilled.labels("gpt-oss-120b", "saturated").inc(100)
    return generate_latest(registry).decode()


def test_the_vllm_queue_is_read_from_its_prometheus_text() -> None:
    queue = parse_vllm(VLLM_METRICS)
    assert (queue.waiting, queue.running) == (7, 32)


def test_the_routers_spilled_demand_is_read_per_model() -> None:
    spill = parse_router(_router_metrics(), "gpt-oss-20b")
    assert (spill.inflight, spill.total) == (3, 15)


def test_requests_the_router_holds_count_as_demand_like_spilled_ones() -> None:
    registry = CollectorRegistry()
    held = Gauge("gptoss_router_held_requests", "x", ["model"], registry=registry)
    held.labels("gpt-oss-20b").set(5)
    held.labels("gpt-oss-120b").set(2)
    text = _router_metrics() + generate_latest(registry).decode()
    spill = parse_router(text, "gpt-oss-20b")
    assert (spill.inflight, spill.total) == (3 + 5, 15)
