"""The NetworkPolicy fencing a GptOssDeployment's vLLM pods, on the real control plane: made
and owned by the operator when its settings name who may reach vLLM, absent (and said so at
start-up) when they do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.conftest import Kubectl
from tests.operator.crs import get_cr
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

ROUTER = {"app.kubernetes.io/instance": "gptoss", "app.kubernetes.io/component": "router"}
OPERATOR = {"app.kubernetes.io/instance": "gptoss", "app.kubernetes.io/component": "operator"}
SPEC = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "replicas": 1}


def _reconciled(api_client: client.ApiClient, namespace: str, name: str) -> bool:
    status = get_cr(api_client, namespace, name).get("status") or {}
    return status.get("observedGeneration") == 1


def _policies(api_client: client.ApiClient, namespace: str) -> list[Any]:
    found = client.NetworkingV1Api(api_client).list_namespaced_network_policy(namespace)
    return list(found.items)


def test_the_operator_fences_vllm_pods_to_the_router_and_itself(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_VLLM_CLIENTS_NAMESPACE": "gptoss-system",
        "GPTOSS_OPERATOR_VLLM_CLIENT_LABELS": json.dumps([ROUTER, OPERATOR]),
    }
    log = tmp_path / "operator.log"
    with operator_running(cluster.kubeconfig, log, **env):
        assert kubectl.apply(namespace, manifest("fenced", SPEC)).returncode == 0
        (policy,) = eventually(
            lambda: _policies(api_client, namespace), timeout=60, what="a NetworkPolicy"
        )
        eventually(lambda: _reconciled(api_client, namespace, "fenced"), timeout=60, what="status")
    assert "vLLM pods are not fenced" not in log.read_text()
    cr = get_cr(api_client, namespace, "fenced")
    assert policy.metadata.name == "fenced-vllm"
    (owner,) = policy.metadata.owner_references
    assert (owner.kind, owner.uid, owner.controller) == (
        "GptOssDeployment",
        cr["metadata"]["uid"],
        True,
    )
    managers = {m.manager for m in policy.metadata.managed_fields}
    assert "gptoss-operator" in managers
    assert policy.spec.pod_selector.match_labels == {"gptoss.dev/deployment": "fenced"}
    (rule,) = policy.spec.ingress
    assert [(p.port, p.protocol) for p in rule.ports] == [(8000, "TCP")]
    peers = [(p.namespace_selector.match_labels, p.pod_selector.match_labels) for p in rule._from]
    in_system = {"kubernetes.io/metadata.name": "gptoss-system"}
    assert peers == [(in_system, ROUTER), (in_system, OPERATOR)]
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector="gptoss.dev/deployment=fenced"
    )
    assert pods.items, "the policy selects no pod"
    for pod in pods.items:
        assert all(
            pod.metadata.labels[k] == v for k, v in policy.spec.pod_selector.match_labels.items()
        )


def test_without_the_settings_there_is_no_policy_and_the_log_says_so(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    log = tmp_path / "operator.log"
    with operator_running(cluster.kubeconfig, log, GPTOSS_OPERATOR_RESYNC_SECONDS="3"):
        assert kubectl.apply(namespace, manifest("open", SPEC)).returncode == 0
        eventually(lambda: _reconciled(api_client, namespace, "open"), timeout=60, what="status")
    assert "vLLM pods are not fenced" in log.read_text()
    assert _policies(api_client, namespace) == []
