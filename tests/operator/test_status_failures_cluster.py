"""Replicas that Kubernetes refuses to create show up in status, with Kubernetes' own words, on
the real control plane: a GPU ResourceQuota, a missing ServiceAccount, a missing PriorityClass.

Each cause is created for real; the ReplicaSet controller's ``FailedCreate`` reaches the
Deployment's ``ReplicaFailure`` condition and the operator turns it into
``Degraded=True/PodCreationFailed`` within a resync. Volume and container-config failures are
written by a kubelet, which KWOK does not play: ``tests/operator/test_status.py`` drives the
operator's reading of the kubelet's own status and Events for those.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, get_cr, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with operator_running(cluster.kubeconfig, log, GPTOSS_OPERATOR_RESYNC_SECONDS="3") as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _degraded(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = condition(get_cr(api_client, namespace, name), "Degraded")
        return found if found and found["reason"] == "PodCreationFailed" else None

    return eventually(probe, timeout=90, what=f"Degraded/PodCreationFailed on {name}")


def test_a_gpu_quota_that_refuses_the_pod_degrades_with_pod_creation_failed(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-gpus"},
        "spec": {"hard": {"requests.nvidia.com/gpu": "0"}},
    }
    assert kubectl.apply(namespace, quota).returncode == 0
    assert kubectl.apply(namespace, manifest("quota", simulated())).returncode == 0

    degraded = _degraded(api_client, namespace, "quota")
    assert degraded["status"] == "True"
    assert "exceeded quota: no-gpus" in degraded["message"]
    assert "requests.nvidia.com/gpu=1" in degraded["message"]
    ready = condition(get_cr(api_client, namespace, "quota"), "Ready")
    assert ready is not None and ready["reason"] == "PodCreationFailed"

    client.CoreV1Api(api_client).delete_namespaced_resource_quota("no-gpus", namespace)
    eventually(
        lambda: (
            (c := condition(get_cr(api_client, namespace, "quota"), "Ready"))
            and c["reason"] == "Serving"
        ),
        timeout=120,
        what="the replica to serve once the quota is gone",
    )


def test_a_missing_service_account_degrades_naming_it(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = simulated()
    spec["pod"]["serviceAccountName"] = "model-reader"
    assert kubectl.apply(namespace, manifest("nosa", spec)).returncode == 0

    degraded = _degraded(api_client, namespace, "nosa")
    assert 'serviceaccount "model-reader" not found' in degraded["message"]


def test_a_missing_priority_class_degrades_naming_it(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = simulated()
    spec["pod"]["priorityClassName"] = "gpu-inference-critical"
    assert kubectl.apply(namespace, manifest("noprio", spec)).returncode == 0

    degraded = _degraded(api_client, namespace, "noprio")
    assert "gpu-inference-critical" in degraded["message"]
    assert "PriorityClass" in degraded["message"]


def test_a_child_the_api_server_refuses_degrades_the_cr_in_kubernetes_words(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    """A toleration the CRD's schema admits and Kubernetes does not (a value with Exists)."""
    spec = simulated()
    spec["gpu"]["tolerations"] = [{"key": "dedicated", "operator": "Exists", "value": "ml"}]
    assert kubectl.apply(namespace, manifest("badtol", spec)).returncode == 0

    def probe() -> dict[str, Any] | None:
        found = condition(get_cr(api_client, namespace, "badtol"), "Degraded")
        return found if found and found["reason"] == "ChildRejected" else None

    degraded = eventually(probe, timeout=90, what="Degraded/ChildRejected on badtol")
    assert degraded["status"] == "True"
    assert "spec.template.spec.tolerations[" in degraded["message"]
    assert "value must be empty when `operator` is 'Exists'" in degraded["message"]
    ready = condition(get_cr(api_client, namespace, "badtol"), "Ready")
    assert ready is not None and ready["reason"] == "ChildRejected"


def test_a_vllm_that_will_not_start_crash_loops_and_the_cr_quotes_its_last_words(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    # An image whose vLLM release the operator cannot check: the flag reaches the pod, whose
    # vLLM refuses it at start, as it would on a GPU node.
    serving = {
        **simulated()["serving"],
        "image": "registry.example/vllm-openai:nightly",
        "extraArgs": ["--max-num-sequences", "64"],
    }
    assert kubectl.apply(namespace, manifest("nightly", simulated(serving=serving))).returncode == 0

    def crash_looping() -> dict[str, Any] | None:
        found = condition(get_cr(api_client, namespace, "nightly"), "Ready")
        return found if found and found["reason"] == "CrashLooping" else None

    ready = eventually(crash_looping, timeout=90, what="Ready/CrashLooping on nightly")
    assert (
        "its last exit code 2: vllm: error: unrecognized arguments: --max-num-sequences"
        in (ready["message"])
    )
    (pod,) = client.CoreV1Api(api_client).list_namespaced_pod(namespace).items
    (status,) = pod.status.container_statuses
    assert status.last_state.terminated.exit_code == 2
    assert "usage: vllm" in status.last_state.terminated.message  # the log's tail, kept
