"""The chart's monitoring: every operator replica serves /metrics on operator.metricsPort, a
Service finds them, the operator's NetworkPolicy lets only that port in (from whom it is told),
ServiceMonitors scrape it and the router, 0 turns the operator's off; and the Grafana
dashboards query only metrics that are exported."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gptoss_operator.metrics import OperatorMetrics
from gptoss_router.metrics import RouterMetrics
from tests.chart.helm import CHART, Tool, find, one, render


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = one(docs, "Deployment", "-operator")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_every_operator_replica_serves_metrics_that_a_service_selects(helm: Tool) -> None:
    docs = render(helm)
    container = _container(docs)
    assert "--metrics-port=8081" in container["args"]
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    service = one(docs, "Service", "-operator-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = one(docs, "Deployment", "-operator")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_the_operators_network_policy_lets_in_only_its_metrics_port_from_whom_it_is_told(
    helm: Tool,
) -> None:
    policy = one(render(helm), "NetworkPolicy", "-operator")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    peer = "networkPolicy.operatorMetricsFrom[0].namespaceSelector.matchLabels"
    told = one(render(helm, sets=(f"{peer}.name=monitoring",)), "NetworkPolicy", "-operator")
    (rule,) = told["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]


def test_monitoring_scrapes_the_operator_beside_the_router(helm: Tool) -> None:
    docs = render(helm, sets=("metrics.serviceMonitor.enabled=true",))
    monitor = one(docs, "ServiceMonitor", "-operator")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    # a deployment's own namespace label wins over the operator pod's
    assert endpoint["honorLabels"] is True
    service = one(docs, "Service", "-operator-metrics")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    one(docs, "ServiceMonitor", "-router")


def test_a_metrics_port_of_zero_turns_the_operators_metrics_off(helm: Tool) -> None:
    docs = render(helm, sets=("operator.metricsPort=0", "metrics.serviceMonitor.enabled=true"))
    assert not any(a.startswith("--metrics-port") for a in _container(docs)["args"])
    assert find(docs, "Service", "-operator-metrics") == []
    assert find(docs, "ServiceMonitor", "-operator") == []
    assert one(docs, "NetworkPolicy", "-operator")["spec"]["ingress"] == []


def test_a_metrics_port_that_is_the_liveness_port_is_refused_naming_both(helm: Tool) -> None:
    done = helm("template", "gptoss", str(CHART), "--set", "operator.metricsPort=8080")
    assert done.returncode != 0
    assert "operator.metricsPort 8080 is operator.livenessPort too" in done.stderr


def test_a_privileged_metrics_port_is_refused(helm: Tool) -> None:
    done = helm("template", "gptoss", str(CHART), "--set", "operator.metricsPort=80")
    assert done.returncode != 0
    assert "metricsPort" in done.stderr


def test_the_service_monitor_scrapes_the_router_metrics_port(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "full-values.yaml")
    monitor = one(docs, "ServiceMonitor", "-router")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    service = one(docs, "Service", "-router")
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["spec"]["selector"].items()
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def _exported_names(metrics: Callable[[CollectorRegistry], object]) -> set[str]:
    registry = CollectorRegistry()
    metrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names |= {s.name for s in family.samples}
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }[family.type]
        names |= {family.name + s for s in suffixes}
    return names


@pytest.mark.parametrize(
    ("key", "prefix", "metrics", "least"),
    [
        ("gptoss-router.json", "gptoss_router_", RouterMetrics, 10),
        ("gptoss-economics.json", "gptoss_operator_", OperatorMetrics, 10),
    ],
    ids=["router", "economics"],
)
def test_each_dashboard_queries_only_metrics_that_are_exported(
    helm: Tool,
    key: str,
    prefix: str,
    metrics: Callable[[CollectorRegistry], object],
    least: int,
) -> None:
    config_map = one(render(helm, CHART / "ci" / "full-values.yaml"), "ConfigMap", "-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"][key])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if "query" in v
              and isinstance(v["query"], dict)]  # fmt: skip
    used = {m for e in exprs for m in re.findall(rf"\b{prefix}[a-z_]+", e)}
    assert used, "the dashboard queries nothing"
    assert used - _exported_names(metrics) == set()
    families = {n.removesuffix(s) for n in used for s in ("_total", "_bucket") if n.endswith(s)}
    assert len(families | used) >= least
