"""The operator against the real control plane: apply a GptOssDeployment, get GPU-pinned vLLM
replicas, an honest status and Events; scale through /scale; children follow their owner.

The operator runs as its own process (``python -m gptoss_operator``). Pods annotated for the
``vllm-sim`` runtime run the vLLM simulator on their pod IP with the exact vLLM command line the
operator built, and are probed like a kubelet would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.net import answers, free_port
from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import vllm_args
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.reconciling.planning import plan
from gptoss_operator.settings import OperatorSettings
from tests.operator.conftest import Kubectl
from tests.operator.engine_cache import engine_cache_tokens, predicted_cache_tokens
from tests.operator.gptoss_crd import EXAMPLES, GROUP, PLURAL, VERSION, load_yaml, manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually


@dataclass(frozen=True)
class Operator:
    log: Path
    liveness: str


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    with operator_running(
        cluster.kubeconfig, log, "--liveness", liveness, GPTOSS_OPERATOR_RESYNC_SECONDS="3"
    ) as process:
        eventually(lambda: answers(liveness), timeout=60, what="the liveness endpoint")
        yield Operator(log, liveness)
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


def test_the_operator_reports_itself_alive_on_its_liveness_endpoint(operator: Operator) -> None:
    response = httpx.get(operator.liveness, timeout=5)
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


def test_a_gptossdeployment_becomes_ready_on_h100_nodes_with_its_children(
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
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
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
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
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
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
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
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
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("owned", spec)).returncode == 0
    _wait_reason(api_client, namespace, "owned", "Ready", "Serving")
    apps = client.AppsV1Api(api_client)
    assert apps.read_namespaced_deployment("owned-vllm", namespace).spec.revision_history_limit == 3
    patch = {"spec": {"revisionHistoryLimit": 10}}
    apps.patch_namespaced_deployment("owned-vllm", namespace, patch)

    def restored() -> bool:
        live = apps.read_namespaced_deployment("owned-vllm", namespace)
        return bool(live.spec.revision_history_limit == 3)

    assert eventually(restored, timeout=60, what="the operator to restore revisionHistoryLimit 3")


def test_deleting_the_cr_deletes_everything_it_owns(
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
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


def _volume(api_client: client.ApiClient, name: str, size: str = "500Gi") -> None:
    """A statically provisioned volume any claim without a storage class can bind to."""
    client.CoreV1Api(api_client).create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/tmp/{name}"},
            },
        }
    )


def _prepare(api_client: client.ApiClient, namespace: str, spec: GptOssDeploymentSpec) -> None:
    """What an example expects to exist already: volumes, claims and secrets."""
    core = client.CoreV1Api(api_client)
    if spec.cache and spec.cache.pvc:
        _volume(api_client, f"{namespace}-cache")
    if spec.source and spec.source.uri and spec.source.uri.startswith("pvc://"):
        claim = spec.source.uri.removeprefix("pvc://").split("/")[0]
        _volume(api_client, f"{namespace}-source")
        core.create_namespaced_persistent_volume_claim(
            namespace,
            {
                "metadata": {"name": claim},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "resources": {"requests": {"storage": "100Gi"}},
                },
            },
        )
    if spec.source and spec.source.secret_name:
        core.create_namespaced_secret(
            namespace, {"metadata": {"name": spec.source.secret_name}, "stringData": {"K": "v"}}
        )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_runs_ready_on_matching_gpu_nodes_as_built(
    example: Path,
    operator: Operator,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
) -> None:
    body = load_yaml(example)
    # run each pod's engine: the simulator divides its GPUs' memory from the command line
    pod = body["spec"].setdefault("pod", {})
    pod["annotations"] = {
        **pod.get("annotations", {}),
        RUNTIME_ANNOTATION: "vllm-sim",
        STARTUP_ANNOTATION: "0",
    }
    spec = GptOssDeploymentSpec.model_validate(body["spec"])
    name = body["metadata"]["name"]
    _prepare(api_client, namespace, spec)
    try:
        assert kubectl.apply(namespace, body).returncode == 0
        waited = kubectl(
            "wait", f"gptoss/{name}", "-n", namespace, "--for=condition=Ready", "--timeout=120s"
        )
        assert waited.returncode == 0, waited.stderr + str(_cr(api_client, namespace, name))

        cr = _cr(api_client, namespace, name)
        decided = plan(cr, OperatorSettings())
        assert decided.sizing is not None and decided.weights is not None
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        deployment = apps.read_namespaced_deployment(f"{name}-vllm", namespace).to_dict()
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == vllm_args(spec, decided.sizing, decided.weights)
        product = product_named(spec.gpu.product)
        assert container["resources"]["limits"][product.resource_name] == str(
            decided.sizing.tensor_parallel_size
        )
        assert cr["status"]["sizing"]["tensorParallelSize"] == decided.sizing.tensor_parallel_size
        assert cr["status"]["endpoint"] == f"http://{name}.{namespace}.svc:8000/v1"
        pods = core.list_namespaced_pod(namespace, label_selector=cr["status"]["selector"]).items
        assert pods
        for pod in pods:
            labels = core.read_node(pod.spec.node_name).metadata.labels
            assert labels[product.label_key] == product.label_value
            # the engine divided its GPUs' memory from the command line as the sizing predicted
            held = engine_cache_tokens(pod.status.pod_ip)
            assert held == pytest.approx(predicted_cache_tokens(decided.sizing), rel=0.002)
    finally:
        for volume in (f"{namespace}-cache", f"{namespace}-source"):
            kubectl("delete", "pv", volume, "--ignore-not-found", "--wait=false")


def test_a_spec_change_rolls_out_while_every_gpu_of_the_nodes_is_taken(
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 8}, "replicas": 2}
    assert kubectl.apply(namespace, manifest("full", spec)).returncode == 0
    _wait_reason(api_client, namespace, "full", "Progressing", "Complete")
    changed = {**spec, "serving": {"maxNumSeqs": 64}}
    assert kubectl.apply(namespace, manifest("full", changed)).returncode == 0

    def rolled_out() -> dict[str, Any] | None:
        cr = _cr(api_client, namespace, "full")
        progressing = _condition(cr, "Progressing")
        done = (
            progressing.get("reason") == "Complete"
            and progressing.get("observedGeneration") == cr["metadata"]["generation"]
        )
        return cr if done and cr["status"].get("readyReplicas") == 2 else None

    eventually(rolled_out, timeout=120, what="the rollout to complete on full nodes")
    deployment = client.AppsV1Api(api_client).read_namespaced_deployment("full-vllm", namespace)
    assert deployment.status.updated_replicas == 2
    assert "--max-num-seqs" in deployment.spec.template.spec.containers[0].args


def test_a_users_annotation_on_a_child_survives_reconciles(
    operator: Operator, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    assert kubectl.apply(namespace, manifest("noted", spec)).returncode == 0
    _wait_reason(api_client, namespace, "noted", "Ready", "Serving")
    annotated = kubectl("annotate", "deployment/noted-vllm", "-n", namespace, "team/owner=ml")
    assert annotated.returncode == 0
    # A spec change makes the operator apply the Deployment again.
    kubectl("scale", "gptoss/noted", "--replicas=2", "-n", namespace)
    eventually(
        lambda: _cr(api_client, namespace, "noted")["status"].get("readyReplicas") == 2,
        timeout=60,
        what="the scale-up to be applied",
    )
    live = client.AppsV1Api(api_client).read_namespaced_deployment("noted-vllm", namespace)
    assert live.metadata.annotations["team/owner"] == "ml"


@pytest.mark.parametrize(
    ("bad", "named", "fixed"),
    [
        (
            ["--max-num-sequences", "64"],
            "--max-num-sequences",
            {"extraArgs": ["--max-num-seqs", "64"]},
        ),
        # vLLM would take the last utilization and find no memory left for the KV cache
        (
            ["--gpu-memory-util", "0.25"],
            "spec.serving.gpuMemoryUtilization",
            {"gpuMemoryUtilization": 0.9},
        ),
    ],
    ids=["misspelled", "overriding-the-sizing"],
)
def test_a_flag_vllm_would_not_start_with_is_refused_before_any_pod_and_serves_once_fixed(
    operator: Operator,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    bad: list[str],
    named: str,
    fixed: dict[str, Any],
) -> None:
    typo = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": {"extraArgs": bad}}
    assert kubectl.apply(namespace, manifest("typo", typo)).returncode == 0
    cr = _wait_reason(api_client, namespace, "typo", "Degraded", "InvalidServingArgs")
    degraded = _condition(cr, "Degraded")
    assert degraded["status"] == "True"
    assert named in degraded["message"] and "extraArgs" in degraded["message"]
    assert _condition(cr, "Ready")["reason"] == "InvalidServingArgs"
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    assert apps.list_namespaced_deployment(namespace).items == []
    assert core.list_namespaced_pod(namespace).items == []
    warnings = eventually(
        lambda: [
            e
            for e in core.list_namespaced_event(
                namespace, field_selector="involvedObject.name=typo"
            ).items
            if e.reason == "InvalidServingArgs" and e.type == "Warning"
        ],
        timeout=30,
        what="a Warning Event naming InvalidServingArgs",
    )
    assert named in warnings[0].message

    assert kubectl.apply(namespace, manifest("typo", {**typo, "serving": fixed})).returncode == 0
    cr = _wait_reason(api_client, namespace, "typo", "Ready", "Serving")
    assert _condition(cr, "Degraded")["reason"] == "AsExpected"
    pods = core.list_namespaced_pod(namespace, label_selector=cr["status"]["selector"]).items
    assert all(
        (s.restart_count or 0) == 0 for p in pods for s in (p.status.container_statuses or [])
    )
