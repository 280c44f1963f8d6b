"""The cost policy's inputs: vLLM token counters and the demand meter built from them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue, parse_vllm
from gptoss_operator.autoscaling.spill import RouterSpill, parse_router


def _vllm_counters(generated: int, prompted: int, finished: int) -> str:
    """Counters as vLLM exposes them (prometheus_client, ``_total`` suffix)."""
    registry = CollectorRegistry()
    labels = ["model_name", "engine"]
    gen = Counter("vllm:generation_tokens", "x", labels, registry=registry)
    prompt = Counter("vllm:prompt_tokens", "x", labels, registry=registry)
    success = Counter("vllm:request_success", "x", [*labels, "finished_reason"], registry=registry)
    gen.labels("gpt-oss-120b", "0").inc(generated)
    prompt.labels("gpt-oss-120b", "0").inc(prompted)
    success.labels("gpt-oss-120b", "0", "stop").inc(finished - 1)
    success.labels("gpt-oss-120b", "0", "length").inc(1)
    return generate_latest(registry).decode()


def test_the_token_counters_are_read_from_vllms_prometheus_text() -> None:
    pod = parse_vllm(_vllm_counters(generated=5000, prompted=12000, finished=10))
    assert (pod.generation_tokens, pod.prompt_tokens, pod.finished) == (5000, 12000, 10)


NO_SPILL = RouterSpill(0, 0)


def _pod(generated: float, prompted: float, finished: float) -> PodQueue:
    return PodQueue(0, 0, generation_tokens=generated, prompt_tokens=prompted, finished=finished)


def test_a_steady_rate_is_measured_in_output_tokens_per_second_with_its_input_ratio() -> None:
    meter = DemandMeter(window_s=30.0)
    for second in range(0, 600, 5):
        meter.observe(float(second), {"a": _pod(800.0 * second, 2400.0 * second, second)}, NO_SPILL)
    assert meter.local_tokens_per_s == pytest.approx(800.0, rel=1e-3)
    assert meter.input_per_output == pytest.approx(3.0, rel=1e-3)
    assert meter.output_per_request == pytest.approx(800.0, rel=1e-3)


def test_spilled_requests_count_at_the_length_of_local_replies() -> None:
    meter = DemandMeter(window_s=30.0)
    for second in range(0, 600, 5):
        pods = {"a": _pod(500.0 * second, 500.0 * second, second)}
        meter.observe(float(second), pods, RouterSpill(0, 2 * second))
    assert meter.spilled_per_s == pytest.approx(2.0, rel=1e-3)
    assert meter.tokens_per_s == pytest.approx(500.0 + 2.0 * 500.0, rel=1e-3)


def test_a_restarted_or_new_pod_does_not_look_like_a_burst() -> None:
    meter = DemandMeter(window_s=30.0)
    meter.observe(0.0, {"a": _pod(1e6, 1e6, 100)}, NO_SPILL)
    meter.observe(5.0, {"a": _pod(10.0, 10.0, 1), "b": _pod(9e6, 9e6, 900)}, NO_SPILL)
    assert meter.local_tokens_per_s == 0.0
    meter.observe(10.0, {"a": _pod(1010.0, 1010.0, 2), "b": _pod(9e6, 9e6, 900)}, NO_SPILL)
    assert 0.0 < meter.local_tokens_per_s < 200.0  # 200 tokens/s at once, smoothed


def _router_counters() -> str:
    """The router's request and token counters as prometheus_client writes them."""
    registry = CollectorRegistry()
    requests = Counter(
        "gptoss_router_requests", "x", ["route", "model", "backend", "outcome"], registry=registry
    )
    tokens = Counter(
        "gptoss_router_tokens", "x", ["backend", "direction", "outcome"], registry=registry
    )
    requests.labels("chat", "gpt-oss-120b", "groq", "ok").inc(3)
    requests.labels("chat", "gpt-oss-20b", "fireworks", "ok").inc(1)
    requests.labels("chat", "gpt-oss-120b", "local", "ok").inc(50)
    requests.labels("chat", "gpt-oss-120b", "none", "rejected").inc(7)
    tokens.labels("groq", "input", "ok").inc(9000)
    tokens.labels("groq", "output", "ok").inc(3000)
    tokens.labels("fireworks", "output", "ok").inc(1000)
    tokens.labels("local", "output", "ok").inc(99999)
    return generate_latest(registry).decode()


def test_what_the_providers_served_is_read_over_all_models_without_local_pods() -> None:
    spill = parse_router(_router_counters(), "gpt-oss-120b")
    assert (spill.hosted_requests, spill.hosted_input_tokens) == (4, 9000)
    assert spill.hosted_output_tokens == 4000


def test_without_local_replies_the_providers_replies_set_the_request_shape() -> None:
    meter = DemandMeter(window_s=30.0)
    for second in range(0, 600, 5):
        hosted = RouterSpill(
            0,
            second,
            hosted_requests=second,
            hosted_input_tokens=1500.0 * second,
            hosted_output_tokens=500.0 * second,
        )
        meter.observe(float(second), {}, hosted)
    assert meter.output_per_request == pytest.approx(500.0, rel=1e-3)
    assert meter.input_per_output == pytest.approx(3.0, rel=1e-3)
    assert meter.tokens_per_s == pytest.approx(500.0, rel=1e-3)


def _router_text(unserved: int, other_model: int) -> str:
    registry = CollectorRegistry()
    requests = Counter(
        "gptoss_router_requests", "x", ["route", "model", "backend", "outcome"], registry=registry
    )
    requests.labels("chat", "gpt-oss-120b", "none", "no_backend").inc(unserved)
    requests.labels("chat", "gpt-oss-120b", "none", "client_error").inc(7)
    requests.labels("chat", "gpt-oss-20b", "none", "no_backend").inc(other_model)
    requests.labels("chat", "gpt-oss-120b", "groq", "ok").inc(100)
    return generate_latest(registry).decode()


def test_requests_no_backend_served_are_read_for_their_model_only() -> None:
    spill = parse_router(_router_text(unserved=12, other_model=5), "gpt-oss-120b")
    assert spill.unserved == 12


def test_unserved_requests_are_demand_and_their_last_tick_rate_is_kept_apart() -> None:
    meter = DemandMeter(window_s=30.0, output_per_request=500.0)
    meter.observe(0.0, {}, RouterSpill(0, 0, unserved=0))
    meter.observe(10.0, {}, RouterSpill(0, 0, unserved=20))
    assert meter.unserved_per_s == pytest.approx(2.0)
    assert meter.unserved_tokens_per_s == pytest.approx(1000.0)
    assert meter.tokens_per_s > 0
    assert meter.tick_tokens_per_s == pytest.approx(1000.0)  # the tick's demand, all unserved
    # smoothed like the demand: the only tick measured is all the average has yet
    first = meter.unserved_minute_per_s
    assert first == pytest.approx(2.0)
    meter.observe(20.0, {}, RouterSpill(0, 0, unserved=20))
    assert meter.unserved_per_s == 0.0
    assert 0.0 < meter.unserved_minute_per_s < first  # fading, not gone
    assert meter.tick_tokens_per_s == 0.0  # nothing asked for in the last tick alone
    assert meter.unserved_minute_tokens_per_s == pytest.approx(
        meter.unserved_minute_per_s * meter.output_per_request
    )
