"""The chart's operator metrics: every replica serves /metrics on operator.metricsPort, a
Service finds them, the operator's NetworkPolicy lets only that port in (from whom it is told),
the ServiceMonitor scrapes it when monitoring is on, and 0 turns all of it off."""

from __future__ import annotations

from typing import Any

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
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
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


def test_a_privileged_metrics_port_is_refused(helm: Tool) -> None:
    done = helm("template", "gptoss", str(CHART), "--set", "operator.metricsPort=80")
    assert done.returncode != 0
    assert "metricsPort" in done.stderr
