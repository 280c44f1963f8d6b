"""The operator against the real control plane: apply a GptOssDeployment, get GPU-pinned vLLM
replicas, an honest status and Events; scale through /scale; children follow their owner.

The operator runs as its own process (``python -m gptoss_operator``). Pods annotated for the
``vllm-sim`` runtime run the vLLM simulator on their pod IP with the exact vLLM command line the
operator built, and are probed like a kubelet would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.runtime import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION, manifest
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


def _cr(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return body


def _condition(cr: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in cr.get("status", {}).get("conditions", []) or []:
        if condition["type"] == kind:
            return dict(condition)
    return {}


def _wait_reason(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    kind: str,
    reason: str,
    timeout: float = 90,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cr = _cr(api_client, namespace, name)
        return cr if _condition(cr, kind).get("reason") == reason else None

    return eventually(probe, timeout=timeout, what=f"{kind} reason {reason} on {name}")


def test_a_gptossdeployment_becomes_ready_on_h100_nodes_with_its_children(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("chat", spec)).returncode == 0

    cr = _wait_reason(api_client, namespace, "chat", "Ready", "Serving")
    status = cr["status"]
    assert status["readyReplicas"] == 1
    assert status["observedGeneration"] == cr["metadata"]["generation"]
    assert status["selector"] == "gptoss.dev/deployment=chat"
    assert status["sizing"]["tensorParallelSize"] == 1
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    (pod,) = core.list_namespaced_pod(namespace, label_selector=status["selector"]).items
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    uid = cr["metadata"]["uid"]
    deployment = apps.read_namespaced_deployment("chat-vllm", namespace)
    service = core.read_namespaced_service("chat", namespace)
    pdb = client.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget(
        "chat-vllm", namespace
    )
    for child in (deployment, service, pdb):
        assert [r.uid for r in child.metadata.owner_references] == [uid]
    table = kubectl("get", "gptoss", "chat", "-n", namespace)
    assert "gpt-oss-20b" in table.stdout and "Serving" in table.stdout


def test_status_says_loading_weights_until_vllm_answers_its_health_check(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "A100-80GB"},
        "pod": {"annotations": {RUNTIME_ANNOTATION: "vllm-sim", STARTUP_ANNOTATION: "8"}},
    }
    assert kubectl.apply(namespace, manifest("loader", spec)).returncode == 0
    loading = _wait_reason(api_client, namespace, "loader", "Ready", "LoadingWeights")
    assert loading["status"]["readyReplicas"] == 0
    ready = _wait_reason(api_client, namespace, "loader", "Ready", "Serving", timeout=120)
    assert ready["status"]["readyReplicas"] == 1

    core = client.CoreV1Api(api_client)
    (pod,) = core.list_namespaced_pod(
        namespace, label_selector="gptoss.dev/deployment=loader"
    ).items
    models = httpx.get(f"http://{pod.status.pod_ip}:8000/v1/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["gpt-oss-20b"]
    events = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=GptOssDeployment,involvedObject.name=loader"
    ).items
    reasons = [e.reason for e in events]
    assert "LoadingWeights" in reasons and "Serving" in reasons


def test_no_free_gpu_node_degrades_with_the_schedulers_reason(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 8}, "replicas": 3}
    assert kubectl.apply(namespace, manifest("big", spec)).returncode == 0
    cr = _wait_reason(api_client, namespace, "big", "Degraded", "WaitingForGPUNode")
    degraded = _condition(cr, "Degraded")
    assert degraded["status"] == "True"
    assert "Insufficient nvidia.com/gpu" in degraded["message"]
    cr = eventually(
        lambda: (c := _cr(api_client, namespace, "big"))["status"].get("readyReplicas") == 2 and c,
        timeout=60,
        what="the two replicas that fit to be ready",
    )
    assert _condition(cr, "Ready")["status"] == "True"


def test_scaling_the_cr_through_its_scale_subresource_drives_the_replicas(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("scaled", spec)).returncode == 0
    _wait_reason(api_client, namespace, "scaled", "Ready", "Serving")
    assert kubectl("scale", "gptoss/scaled", "--replicas=3", "-n", namespace).returncode == 0
    eventually(
        lambda: _cr(api_client, namespace, "scaled")["status"].get("readyReplicas") == 3,
        timeout=60,
        what="three ready replicas",
    )
    scale = json.loads(
        kubectl(
            "get", "--raw", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/scaled/scale"
        ).stdout
    )
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "gptoss.dev/deployment=scaled"
    assert kubectl("scale", "gptoss/scaled", "--replicas=0", "-n", namespace).returncode == 0
    cr = _wait_reason(api_client, namespace, "scaled", "Ready", "ScaledToZero")
    assert _condition(cr, "Degraded")["status"] == "False"


def test_a_change_made_to_a_child_by_another_writer_is_put_back(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("owned", spec)).returncode == 0
    _wait_reason(api_client, namespace, "owned", "Ready", "Serving")
    apps = client.AppsV1Api(api_client)
    patch = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}}
    apps.patch_namespaced_deployment("owned-vllm", namespace, patch)

    def restored() -> bool:
        strategy = apps.read_namespaced_deployment("owned-vllm", namespace).spec.strategy
        return bool(strategy.rolling_update.max_surge == 0)

    assert eventually(restored, timeout=60, what="the operator to restore maxSurge 0")


def test_deleting_the_cr_deletes_everything_it_owns(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("gone", spec)).returncode == 0
    _wait_reason(api_client, namespace, "gone", "Ready", "Serving")
    assert kubectl("delete", "gptoss/gone", "-n", namespace, "--wait=true").returncode == 0
    apps = client.AppsV1Api(api_client)
    eventually(
        lambda: not apps.list_namespaced_deployment(namespace).items,
        timeout=60,
        what="the Deployment to be garbage-collected",
    )
    core = client.CoreV1Api(api_client)
    eventually(lambda: not core.list_namespaced_pod(namespace).items, timeout=60, what="no pods")
