"""Today's GPUs on the real control plane: an H200 replica sized with the card's own 141 GB and
pinned to the H200 node; a replica larger than every node of its product is Degraded with
``NoNodeLargeEnough`` naming the largest node, instead of Pending forever.

The fake node catalog (``gptoss_localkube.nodes``) has one node per product: 8 x H200, 4 x L4,
2 x H100 NVL, ...; the operator reads them as it would a real cluster's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, get_cr
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

SIMULATED = {"annotations": {RUNTIME_ANNOTATION: "vllm-sim", STARTUP_ANNOTATION: "1"}}


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with operator_running(cluster.kubeconfig, log, GPTOSS_OPERATOR_RESYNC_SECONDS="3") as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _reason(api_client: client.ApiClient, namespace: str, name: str, kind: str, reason: str) -> Any:
    def probe() -> dict[str, Any] | None:
        cr = get_cr(api_client, namespace, name)
        found = condition(cr, kind)
        return cr if found and found["reason"] == reason else None

    return eventually(probe, timeout=90, what=f"{kind}/{reason} on {name}")


def test_an_h200_replica_is_sized_with_141_gb_and_runs_on_the_h200_node(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {
        "model": "gpt-oss-120b",
        "gpu": {"product": "H200"},
        "serving": {"maxModelLen": 32768},
        "pod": SIMULATED,
    }
    assert kubectl.apply(namespace, manifest("h200", spec)).returncode == 0
    cr = _reason(api_client, namespace, "h200", "Ready", "Serving")
    sizing = cr["status"]["sizing"]
    assert sizing["tensorParallelSize"] == 1
    assert sizing["gpuMemoryUtilization"] == 0.9
    # 0.9 x 143771 MiB - 66 GiB of weights - 8146 MiB of runtime, in GiB.
    assert sizing["kvCacheGiB"] == round((0.9 * 143771 - 66 * 1024 - 8146) / 1024, 2)
    assert sizing["maxNumSeqs"] == 1024
    (pod,) = (
        client.CoreV1Api(api_client)
        .list_namespaced_pod(namespace, label_selector="gptoss.dev/deployment=h200")
        .items
    )
    assert pod.spec.node_name == "gpu-h200-0"


def test_120b_on_l4_needs_eight_gpus_and_four_gpu_nodes_degrade_it_naming_the_node(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {"model": "gpt-oss-120b", "gpu": {"product": "L4"}, "pod": SIMULATED}
    assert kubectl.apply(namespace, manifest("l4", spec)).returncode == 0
    cr = _reason(api_client, namespace, "l4", "Degraded", "NoNodeLargeEnough")
    degraded = condition(cr, "Degraded")
    assert degraded is not None and degraded["status"] == "True"
    assert "needs 8 x L4" in degraded["message"]
    assert "gpu-l4-0, has 4 allocatable nvidia.com/gpu" in degraded["message"]
    ready = condition(cr, "Ready")
    assert ready is not None and ready["reason"] == "NoNodeLargeEnough"
    events = client.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector="involvedObject.name=l4,reason=NoNodeLargeEnough"
    )
    assert events.items and {e.type for e in events.items} == {"Warning"}
    assert client.AppsV1Api(api_client).list_namespaced_deployment(namespace).items == []


def test_an_explicit_count_above_the_largest_node_is_refused_with_the_count_that_fits(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-NVL", "count": 4},
        "serving": {"maxModelLen": 8192},
        "pod": SIMULATED,
    }
    assert kubectl.apply(namespace, manifest("nvl", spec)).returncode == 0
    cr = _reason(api_client, namespace, "nvl", "Degraded", "NoNodeLargeEnough")
    message = condition(cr, "Degraded")["message"]  # type: ignore[index]
    assert "gpu-h100nvl-0, has 2 allocatable" in message
    assert "set spec.gpu.count to 2" in message

    spec["gpu"] = {"product": "H100-NVL", "count": 2}
    assert kubectl.apply(namespace, manifest("nvl", spec)).returncode == 0
    _reason(api_client, namespace, "nvl", "Ready", "Serving")
