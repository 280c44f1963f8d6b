"""Prometheus metrics, built against an injected registry.

Labels stay low-cardinality: ``route`` is one of three, ``model`` one of the configured models,
``backend`` is ``local`` or a configured provider name (never a pod or a URL), ``outcome`` and
``reason`` come from short fixed lists. No label ever carries a key, a header or a prompt.

Labelled metrics are wrapped in ``Children``, which keeps each label set's child once looked
up: ``prometheus_client``'s own ``labels()`` checks and locks on every call, which showed in the
request path's profile.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["OUTCOMES", "Children", "RouterMetrics"]

M = TypeVar("M", bound=MetricWrapperBase)

OUTCOMES = ("ok", "client_error", "upstream_error", "no_backend", "interrupted", "cancelled")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Children(Generic[M]):
    """A labelled metric whose children are looked up once per label set."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        """The child for ``values``, as ``metric.labels(*values)`` returns it."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class RouterMetrics:
    """Every metric the router exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Children(
            Counter(
                "gptoss_router_requests",
                "Requests answered, by route, model, backend that served them and outcome.",
                ["route", "model", "backend", "outcome"],
                registry=registry,
            )
        )
        self.ttft = Children(
            Histogram(
                "gptoss_router_time_to_first_token_seconds",
                "Seconds from receiving a request to its first upstream byte, by backend.",
                ["backend"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            )
        )
        self.duration = Children(
            Histogram(
                "gptoss_router_request_duration_seconds",
                "Seconds from receiving a request to its last byte, by backend and outcome.",
                ["backend", "outcome"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            )
        )
        self.tokens = Children(
            Counter(
                "gptoss_router_tokens",
                "Tokens reported in usage, by backend, direction (input/output) and outcome.",
                ["backend", "direction", "outcome"],
                registry=registry,
            )
        )
        self.estimated_tokens = Children(
            Counter(
                "gptoss_router_estimated_tokens",
                "Tokens counted without the backend's usage (a stream the client left or the "
                "upstream cut, an attempt that failed half way), estimated from the text it "
                "streamed and the request's size; gptoss_router_tokens includes them. By "
                "backend and direction (input/output).",
                ["backend", "direction"],
                registry=registry,
            )
        )
        self.dollars = Children(
            Counter(
                "gptoss_router_cost_dollars",
                "Dollars spent at list price, by backend and outcome.",
                ["backend", "outcome"],
                registry=registry,
            )
        )
        # ``deployment`` is the GptOssDeployment (namespace/name) serving the model when
        # exactly one does, else empty: the operator scales that resource on it.
        self.spills = Children(
            Counter(
                "gptoss_router_spilled_requests",
                "Requests for a model sent to a provider, by why local pods did not take them.",
                ["model", "reason", "deployment"],
                registry=registry,
            )
        )
        self.spilled_inflight = Children(
            Gauge(
                "gptoss_router_spilled_inflight",
                "Requests for a model being served by providers right now (spilled demand).",
                ["model", "deployment"],
                registry=registry,
            )
        )
        self.held = Children(
            Gauge(
                "gptoss_router_held_requests",
                "Requests for a model waiting for a local pod, none being allowed to spill.",
                ["model"],
                registry=registry,
            )
        )
        self.holds = Children(
            Counter(
                "gptoss_router_holds",
                "Held requests by how the hold ended (released/timeout/full/left).",
                ["model", "outcome"],
                registry=registry,
            )
        )
        self.retries = Children(
            Counter(
                "gptoss_router_retries",
                "Attempts after the first, by the backend that failed and why.",
                ["backend", "reason"],
                registry=registry,
            )
        )
        self.hedges = Children(
            Counter(
                "gptoss_router_hedges",
                "Attempts sent while an earlier one of the same request was still without its "
                "first event past its backend's hedge quantile, by that slow backend.",
                ["backend"],
                registry=registry,
            )
        )
        self.hedge_wins = Children(
            Counter(
                "gptoss_router_hedge_wins",
                "Hedged requests whose hedge answered first, by the backend that answered.",
                ["backend"],
                registry=registry,
            )
        )
        self.retries_denied = Counter(
            "gptoss_router_retry_budget_exhausted",
            "Retries refused because the retry budget was spent.",
            registry=registry,
        )
        self.ejections = Children(
            Counter(
                "gptoss_router_ejections",
                "Backends taken out of rotation as outliers, by backend.",
                ["backend"],
                registry=registry,
            )
        )
        self.tool_calls = Children(
            Counter(
                "gptoss_router_tool_calls",
                "Tool calls in answers, checked against the request's function schemas, by "
                "backend and whether they were valid (true/false).",
                ["backend", "valid"],
                registry=registry,
            )
        )
        self.local_queue = Children(
            Gauge(
                "gptoss_router_local_queue",
                "Requests on a model's local pods as last scraped, by state (waiting/running).",
                ["model", "state"],
                registry=registry,
            )
        )
        self.app_requests = Children(
            Counter(
                "gptoss_router_app_requests",
                "Requests admitted, by app.",
                ["app"],
                registry=registry,
            )
        )
        self.app_tokens = Children(
            Counter(
                "gptoss_router_app_tokens",
                "Tokens used by an app as reported in usage, by direction (input/output).",
                ["app", "direction"],
                registry=registry,
            )
        )
        self.app_dollars = Children(
            Counter(
                "gptoss_router_app_cost_dollars",
                "Dollars an app spent at the router's prices (local tokens at their set price).",
                ["app"],
                registry=registry,
            )
        )
        self.app_refusals = Children(
            Counter(
                "gptoss_router_app_refusals",
                "Requests refused by an app's limits, by limit (requests_per_minute, "
                "tokens_per_minute, dollars_per_day, dollars_per_month, store_unavailable).",
                ["app", "limit"],
                registry=registry,
            )
        )
        self.benched = Children(
            Gauge(
                "gptoss_router_benched_backends",
                "Backends out of rotation now, by backend (a provider, or local for pods) and why "
                "(spent: the provider said it is out of quota, counted per model; ejected: "
                "outlier detection, whichever router replica benched them; tool_calls: kept off "
                "requests with tools by this replica for invalid tool calls, counted per model).",
                ["backend", "why"],
                registry=registry,
            )
        )
        self.store_up = Gauge(
            "gptoss_router_store_up",
            "1 while the shared state store answers, 0 while it does not.",
            registry=registry,
        )
        self.store_errors = Children(
            Counter(
                "gptoss_router_store_errors",
                "Calls to the shared state store that failed, by operation (take/charge/sync).",
                ["operation"],
                registry=registry,
            )
        )
        self.store_replicas = Gauge(
            "gptoss_router_store_replicas",
            "Router replicas that synced through the store recently, this one included.",
            registry=registry,
        )
        self.prefix_warmups = Children(
            Counter(
                "gptoss_router_prefix_warmups",
                "Requests sent to a new local pod to cache a hot prompt beginning before it "
                "takes traffic, by model and outcome (ok/failed).",
                ["model", "outcome"],
                registry=registry,
            )
        )
        self.local_pods = Children(
            Gauge(
                "gptoss_router_local_pods",
                "Local pods per model, by state (ready/ejected/stale/warming).",
                ["model", "state"],
                registry=registry,
            )
        )
