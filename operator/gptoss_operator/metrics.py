"""The operator's Prometheus metrics, built against an injected registry.

What a platform team graphs and alerts on: whether this replica leads, how reconciles go, and
per autoscaled GptOssDeployment what the autoscaler decided and why. For the Cost policy that is
the figures its decision compared (demand, a replica's capacity, the break-even, the dollars per
hour of the chosen plan and of all-hosted) and its reason, the same ones ``status.autoscaling``
keeps, as time series.

Labels stay low-cardinality: ``namespace`` and ``name`` of autoscaled GptOssDeployments (a
deployment's series are removed when it is deleted or no longer autoscaled), and ``outcome``,
``direction``, ``reason`` and ``plan`` from short fixed lists. No label or value carries a key,
a price table or a URL.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CostFigures", "OperatorMetrics"]

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class CostFigures:
    """What one Cost decision compared, for one GptOssDeployment."""

    reason: str
    demand_tokens_per_s: float
    replica_tokens_per_s: float
    break_even_tokens_per_s: float  # +Inf where hosted tokens cost nothing
    chosen_dollars_per_hour: float
    hosted_dollars_per_hour: float
    providers_tokens_per_s: float | None = None  # what the providers take, once learned


class OperatorMetrics:
    """Every metric the operator exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.leader = Gauge(
            "gptoss_operator_leader",
            "1 while this replica runs the operator (it holds the Lease, or no election is "
            "configured), 0 while it stands by.",
            registry=registry,
        )
        self.reconciles = Counter(
            "gptoss_operator_reconciles",
            "Reconciles of a GptOssDeployment by outcome: ok; stale (another writer changed it "
            "since it was read, so it is read and reconciled again); invalid (its spec cannot "
            "be served); unavailable or rejected (the API server failed or refused a write); "
            "error (anything else).",
            ["outcome"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "gptoss_operator_reconcile_seconds",
            "Seconds one reconcile of a GptOssDeployment took, reads and writes included.",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.autoscale_seconds = Histogram(
            "gptoss_operator_autoscale_tick_seconds",
            "Seconds one autoscaling tick took: reading every replica's and router's metrics, "
            "deciding and writing.",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.scales = Counter(
            "gptoss_operator_scales",
            "Replica counts the autoscaler wrote through /scale, by GptOssDeployment, "
            "direction (up, down) and reason.",
            ["namespace", "name", "direction", "reason"],
            registry=registry,
        )
        self.desired = Gauge(
            "gptoss_operator_autoscale_desired_replicas",
            "The replicas the autoscaler wants for a GptOssDeployment after its last tick.",
            ["namespace", "name"],
            registry=registry,
        )
        self.missing = Gauge(
            "gptoss_operator_autoscale_metrics_missing",
            "Replicas and routers whose metrics the last tick could not read (while above 0, "
            "the autoscaler never lowers the replicas).",
            ["namespace", "name"],
            registry=registry,
        )
        self.demand = _per_deployment(
            registry,
            "gptoss_operator_cost_demand_tokens_per_second",
            "Output tokens/s of a model's demand, local and spilled, as the Cost policy saw it.",
        )
        self.capacity = _per_deployment(
            registry,
            "gptoss_operator_cost_replica_tokens_per_second",
            "Output tokens/s one replica serves within the latency target, as the Cost policy "
            "estimates it (the prior until measured).",
        )
        self.break_even = _per_deployment(
            registry,
            "gptoss_operator_cost_break_even_tokens_per_second",
            "Output tokens/s above which one replica costs less than the same demand hosted.",
        )
        self.providers = _per_deployment(
            registry,
            "gptoss_operator_cost_providers_tokens_per_second",
            "Output tokens/s the hosted providers take at most before they turn requests away, "
            "as the Cost policy learned it (no series until it has seen them full).",
        )
        self.dollars = Gauge(
            "gptoss_operator_cost_dollars_per_hour",
            "Dollars per hour of a GptOssDeployment's demand: plan=chosen is the Cost policy's "
            "plan (GPUs plus hosted overflow), plan=all_hosted the same demand all hosted.",
            ["namespace", "name", "plan"],
            registry=registry,
        )
        self.reason = Gauge(
            "gptoss_operator_cost_reason",
            "1 for the reason of the Cost policy's last decision (status.autoscaling.reason); "
            "one series per GptOssDeployment.",
            ["namespace", "name", "reason"],
            registry=registry,
        )
        self._reasons: dict[tuple[str, str], str] = {}  # the reason series each one has
        self._scaled: set[tuple[str, str, str, str]] = set()  # the scales series there are

    def scaled(self, namespace: str, name: str, current: int, replicas: int, reason: str) -> None:
        """The autoscaler wrote ``replicas`` over ``current``."""
        labels = (namespace, name, "up" if replicas > current else "down", reason)
        self._scaled.add(labels)
        self.scales.labels(*labels).inc()

    def cost(self, namespace: str, name: str, figures: CostFigures) -> None:
        """The figures of a Cost decision; the reason's series replaces the previous one."""
        key = (namespace, name)
        self.demand.labels(namespace, name).set(figures.demand_tokens_per_s)
        self.capacity.labels(namespace, name).set(figures.replica_tokens_per_s)
        self.break_even.labels(namespace, name).set(figures.break_even_tokens_per_s)
        if figures.providers_tokens_per_s is None:
            _remove(self.providers, namespace, name)
        else:
            self.providers.labels(namespace, name).set(figures.providers_tokens_per_s)
        self.dollars.labels(namespace, name, "chosen").set(figures.chosen_dollars_per_hour)
        self.dollars.labels(namespace, name, "all_hosted").set(figures.hosted_dollars_per_hour)
        before = self._reasons.get(key)
        if before is not None and before != figures.reason:
            self.reason.remove(namespace, name, before)
        self._reasons[key] = figures.reason
        self.reason.labels(namespace, name, figures.reason).set(1)

    def forget_cost(self, namespace: str, name: str) -> None:
        """Remove the Cost policy's series of a GptOssDeployment that no longer uses it."""
        for gauge in (self.demand, self.capacity, self.break_even, self.providers):
            _remove(gauge, namespace, name)
        for plan in ("chosen", "all_hosted"):
            _remove(self.dollars, namespace, name, plan)
        reason = self._reasons.pop((namespace, name), None)
        if reason is not None:
            _remove(self.reason, namespace, name, reason)

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a GptOssDeployment that is gone or no longer autoscaled
        (its ``scales`` counts included: a later one of the same name starts afresh)."""
        for gauge in (self.desired, self.missing):
            _remove(gauge, namespace, name)
        self.forget_cost(namespace, name)
        for labels in [s for s in self._scaled if s[:2] == (namespace, name)]:
            self._scaled.discard(labels)
            _remove(self.scales, *labels)


def _per_deployment(registry: CollectorRegistry, name: str, documentation: str) -> Gauge:
    return Gauge(name, documentation, ["namespace", "name"], registry=registry)


def _remove(metric: Counter | Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # labels never set: older prometheus_client raises
        metric.remove(*labels)
