"""The chart's operator: replicas that elect a leader through a Lease only they may touch, on
distinct nodes if they can; an environment the operator accepts, which reads every router pod
and fences vLLM pods to exactly the chart's router and operator pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gptoss_operator.settings import OperatorSettings
from tests.chart.helm import Tool, one, render


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    """The container's environment, with the pod name standing in for its downward API."""
    env = {}
    for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "valueFrom" in variable:
            assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
            env[variable["name"]] = "gptoss-operator-7d9f-abcde"
        else:
            env[variable["name"]] = variable["value"]
    return env


def _settings(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    for name, value in _env(deployment).items():
        monkeypatch.setenv(name, value)
    return OperatorSettings()


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_two_operator_replicas_elect_a_leader_through_a_lease_in_the_release_namespace(
    helm: Tool, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(helm)
    deployment = one(docs, "Deployment", "-operator")
    assert deployment["spec"]["replicas"] == 2
    settings = _settings(deployment, monkeypatch)
    assert settings.leader_election_lease == deployment["metadata"]["name"]
    assert settings.leader_election_namespace == "gptoss"
    assert settings.leader_election_identity == "gptoss-operator-7d9f-abcde"
    role = one(docs, "Role", "-operator-release")
    assert role["metadata"]["namespace"] == "gptoss"
    leases = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]} in (
        leases
    )
    (named,) = [r for r in leases if "resourceNames" in r]
    assert named["resourceNames"] == [settings.leader_election_lease]
    assert sorted(named["verbs"]) == ["get", "update"]
    binding = one(docs, "RoleBinding", "-operator-release")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert (
        binding["subjects"][0]["name"]
        == one(docs, "ServiceAccount", "-operator")["metadata"]["name"]
    )


def test_operator_replicas_prefer_distinct_nodes_unless_given_an_affinity(
    helm: Tool, tmp_path: Path
) -> None:
    deployment = one(render(helm), "Deployment", "-operator")
    pod = deployment["spec"]["template"]
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert _matches(
        term["podAffinityTerm"]["labelSelector"]["matchLabels"], pod["metadata"]["labels"]
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}
                ]
            }
        }
    }
    values = tmp_path / "affinity.yaml"
    values.write_text(yaml.safe_dump({"operator": {"affinity": affinity}}))
    given = one(render(helm, values), "Deployment", "-operator")
    assert given["spec"]["template"]["spec"]["affinity"] == affinity


def test_the_autoscaler_reads_each_router_pod_of_the_release(
    helm: Tool, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(helm)
    settings = _settings(one(docs, "Deployment", "-operator"), monkeypatch)
    router = one(docs, "Deployment", "-router")
    labels = router["spec"]["template"]["metadata"]["labels"]
    assert settings.router_namespace == "gptoss"
    assert settings.router_selector is not None
    selector = dict(term.split("=") for term in settings.router_selector.split(","))
    assert _matches(selector, labels)
    assert not _matches(
        selector, one(docs, "Deployment", "-operator")["spec"]["template"]["metadata"]["labels"]
    )
    ports = router["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert settings.router_metrics_port in [p["containerPort"] for p in ports]
    assert settings.router_urls == ()
    role = one(docs, "Role", "-operator-release")
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]} in role["rules"]
    off = render(helm, sets=("operator.readRouterMetrics=false",))
    monkeypatch.delenv("GPTOSS_OPERATOR_ROUTER_SELECTOR")
    assert _settings(one(off, "Deployment", "-operator"), monkeypatch).router_selector is None


def test_vllm_pods_are_fenced_to_the_releases_router_and_operator_pods(
    helm: Tool, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(helm)
    settings = _settings(one(docs, "Deployment", "-operator"), monkeypatch)
    assert settings.vllm_clients_namespace == "gptoss"
    pods = [
        one(docs, "Deployment", suffix)["spec"]["template"]["metadata"]["labels"]
        for suffix in ("-router", "-operator")
    ]
    assert len(settings.vllm_client_labels) == 2
    for labels, allowed in zip(pods, settings.vllm_client_labels, strict=True):
        assert _matches(allowed, labels)
    assert not _matches(settings.vllm_client_labels[0], pods[1])
    rules = one(docs, "ClusterRole", "-operator")["rules"]
    assert any(r["resources"] == ["networkpolicies"] for r in rules)
    off = render(helm, sets=("operator.fenceVllmPods=false",))
    monkeypatch.delenv("GPTOSS_OPERATOR_VLLM_CLIENTS_NAMESPACE")
    monkeypatch.delenv("GPTOSS_OPERATOR_VLLM_CLIENT_LABELS")
    assert (
        _settings(one(off, "Deployment", "-operator"), monkeypatch).vllm_clients_namespace is None
    )


def test_the_adapter_sync_interval_reaches_the_operator(
    helm: Tool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = _settings(one(render(helm), "Deployment", "-operator"), monkeypatch)
    field = OperatorSettings.model_fields["adapter_sync_seconds"]
    assert default.adapter_sync_seconds == field.default
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"operator": {"adapterSyncSeconds": 2.5}}))
    deployment = one(render(helm, values), "Deployment", "-operator")
    assert _settings(deployment, monkeypatch).adapter_sync_seconds == 2.5
