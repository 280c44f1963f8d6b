"""The operator's metrics: the Cost policy's figures and reason per GptOssDeployment, scale
counts, and the series of a deployment removed once it is gone."""

from __future__ import annotations

import math
from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gptoss_operator.metrics import CostFigures, OperatorMetrics


def samples(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def figures(reason: str, demand: float = 310.0) -> CostFigures:
    return CostFigures(
        reason=reason,
        demand_tokens_per_s=demand,
        replica_tokens_per_s=6039.0,
        break_even_tokens_per_s=1533.0,
        chosen_dollars_per_hour=1.93,
        hosted_dollars_per_hour=1.93,
    )


def test_a_cost_decision_shows_its_figures_and_its_reason_alone() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    metrics.cost("team-a", "chat", figures("WithinColdStartCost"))
    metrics.cost("team-a", "chat", figures("Cheapest", demand=420.0))
    seen = samples(metrics)
    who = (("name", "chat"), ("namespace", "team-a"))
    assert seen[("gptoss_operator_cost_demand_tokens_per_second", who)] == 420.0
    assert seen[("gptoss_operator_cost_break_even_tokens_per_second", who)] == 1533.0
    reasons = {
        dict(labels)["reason"]: value
        for (name, labels), value in seen.items()
        if name == "gptoss_operator_cost_reason"
    }
    assert reasons == {"Cheapest": 1.0}  # the earlier reason's series is gone
    plans = {
        dict(labels)["plan"]
        for (name, labels), _ in seen.items()
        if name == "gptoss_operator_cost_dollars_per_hour"
    }
    assert plans == {"chosen", "all_hosted"}


def test_what_the_providers_take_shows_once_learned_and_goes_if_forgotten() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    who = (("name", "chat"), ("namespace", "team-a"))
    series = ("gptoss_operator_cost_providers_tokens_per_second", who)
    metrics.cost("team-a", "chat", figures("Cheapest"))
    assert series not in samples(metrics)  # never seen full: no figure to show
    learned = replace(figures("ProvidersFull"), providers_tokens_per_s=2153.0)
    metrics.cost("team-a", "chat", learned)
    assert samples(metrics)[series] == 2153.0
    metrics.cost("team-a", "chat", figures("Cheapest"))  # the CR now spills elsewhere
    assert series not in samples(metrics)
    metrics.cost("team-a", "chat", learned)
    metrics.forget("team-a", "chat")
    assert series not in samples(metrics)


def test_a_free_hosted_token_shows_an_infinite_break_even() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    free = CostFigures("Cheapest", 10.0, 100.0, math.inf, 0.0, 0.0)
    metrics.cost("ns", "free", free)
    who = (("name", "free"), ("namespace", "ns"))
    assert samples(metrics)[("gptoss_operator_cost_break_even_tokens_per_second", who)] == math.inf


def test_scales_are_counted_by_direction_and_reason() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    metrics.scaled("ns", "chat", 0, 1, "LocalCheaper")
    metrics.scaled("ns", "chat", 1, 2, "LocalCheaper")
    metrics.scaled("ns", "chat", 2, 0, "HostedCheaper")
    seen = samples(metrics)
    up = (("direction", "up"), ("name", "chat"), ("namespace", "ns"), ("reason", "LocalCheaper"))
    down = (("direction", "down"), ("name", "chat"), ("namespace", "ns"))
    assert seen[("gptoss_operator_scales_total", up)] == 2.0
    assert seen[("gptoss_operator_scales_total", (*down, ("reason", "HostedCheaper")))] == 1.0


def test_a_deployment_that_is_gone_leaves_no_series_and_others_keep_theirs() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    for name in ("gone", "kept"):
        metrics.cost("ns", name, figures("Cheapest"))
        metrics.scaled("ns", name, 0, 1, "LocalCheaper")
        metrics.desired.labels("ns", name).set(1)
        metrics.missing.labels("ns", name).set(0)
    metrics.forget("ns", "gone")
    metrics.forget("ns", "never-seen")  # nothing to remove: no error
    names = {dict(labels).get("name") for _, labels in samples(metrics)}
    assert "gone" not in names
    assert "kept" in names


def test_a_deployment_that_leaves_the_cost_policy_keeps_only_its_scaling_series() -> None:
    metrics = OperatorMetrics(CollectorRegistry())
    metrics.cost("ns", "chat", figures("Cheapest"))
    metrics.desired.labels("ns", "chat").set(2)
    metrics.forget_cost("ns", "chat")
    left = {name for name, labels in samples(metrics) if dict(labels).get("name") == "chat"}
    assert left == {"gptoss_operator_autoscale_desired_replicas"}
