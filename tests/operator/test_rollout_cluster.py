"""Rollouts on the real control plane: a template change with a free GPU keeps a one-replica
model serving throughout; without one, the rollout stops the old replica first; an operator
upgrade that changes the default image restarts no Deployment until a CR opts in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, get_cr, ready_pod_ips, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

OLD_IMAGE = "vllm/vllm-openai:v0.17.0"
NEW_IMAGE = "vllm/vllm-openai:v0.32.0"


@pytest.fixture
def operator_log(tmp_path: Path) -> Path:
    return tmp_path / "operator.log"


@pytest.fixture
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], operator_log: Path
) -> Iterator[Path]:
    with operator_running(
        cluster.kubeconfig, operator_log, GPTOSS_OPERATOR_RESYNC_SECONDS="2"
    ) as process:
        yield operator_log
        assert process.poll() is None, operator_log.read_text()[-3000:]


def _serving(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cr = get_cr(api_client, namespace, name)
        ready = condition(cr, "Ready")
        return cr if ready and ready["reason"] == "Serving" else None

    return eventually(probe, timeout=120, what=f"{name} to serve")


def _rolling(api_client: client.ApiClient, namespace: str) -> list[str]:
    """Deployments replacing pods now: more than one ReplicaSet with pods."""
    sets = client.AppsV1Api(api_client).list_namespaced_replica_set(namespace).items
    owners = [
        rs.metadata.owner_references[0].name
        for rs in sets
        if (rs.status.replicas or 0) > 0 and rs.metadata.owner_references
    ]
    return sorted({name for name in owners if owners.count(name) > 1})


def _strategy(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    live = client.AppsV1Api(api_client).read_namespaced_deployment(f"{name}-vllm", namespace)
    update = live.spec.strategy.rolling_update
    return {"maxSurge": update.max_surge, "maxUnavailable": update.max_unavailable}


def test_a_template_change_with_a_free_gpu_keeps_one_replica_serving_throughout(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    assert kubectl.apply(namespace, manifest("steady", simulated())).returncode == 0
    _serving(api_client, namespace, "steady")
    eventually(lambda: not _rolling(api_client, namespace), timeout=30, what="a settled Deployment")
    (before,) = ready_pod_ips(api_client, namespace, "steady")

    changed = simulated(
        serving={"maxNumSeqs": 2, "maxModelLen": 32768, "env": [{"name": "X", "value": "1"}]}
    )
    assert kubectl.apply(namespace, manifest("steady", changed)).returncode == 0
    samples = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready = ready_pod_ips(api_client, namespace, "steady")
        assert ready, "no replica was serving during the rollout"
        samples += 1
        if before not in ready:
            pods = client.CoreV1Api(api_client).list_namespaced_pod(
                namespace, label_selector="gptoss.dev/deployment=steady"
            )
            if all(p.metadata.name != before for p in pods.items):
                break
    else:
        raise AssertionError("the rollout did not replace the old replica within 120 s")
    assert samples > 1
    (after,) = ready_pod_ips(api_client, namespace, "steady")
    assert after != before
    # The free H100s were counted when the template changed: the rollout surged.
    assert _strategy(api_client, namespace, "steady") == {"maxSurge": 1, "maxUnavailable": 0}


def test_without_a_free_gpu_set_the_rollout_stops_the_old_replica_first(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    # 20b on all four GPUs of the only L4 node leaves no room for a fifth.
    spec = simulated(gpu={"product": "L4", "count": 4})
    assert kubectl.apply(namespace, manifest("full", spec)).returncode == 0
    _serving(api_client, namespace, "full")
    eventually(lambda: not _rolling(api_client, namespace), timeout=30, what="a settled rollout")
    spec["serving"] = {**spec["serving"], "env": [{"name": "X", "value": "1"}]}
    assert kubectl.apply(namespace, manifest("full", spec)).returncode == 0

    def replaced() -> bool:
        live = client.AppsV1Api(api_client).read_namespaced_deployment("full-vllm", namespace)
        env = live.spec.template.spec.containers[0].env or []
        return any(e.name == "X" for e in env)

    eventually(replaced, timeout=30, what="the template change to be applied")
    assert _strategy(api_client, namespace, "full") == {"maxSurge": 0, "maxUnavailable": 1}
    spec["rollout"] = {"surge": "Always"}
    assert kubectl.apply(namespace, manifest("full", spec)).returncode == 0
    eventually(
        lambda: _strategy(api_client, namespace, "full") == {"maxSurge": 1, "maxUnavailable": 0},
        timeout=30,
        what="spec.rollout.surge Always to surge",
    )


def test_an_operator_upgrade_restarts_no_deployment_until_a_cr_opts_in(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    names = ("first", "second")
    with operator_running(
        cluster.kubeconfig,
        tmp_path / "old.log",
        GPTOSS_OPERATOR_RESYNC_SECONDS="2",
        GPTOSS_OPERATOR_VLLM_IMAGE_NVIDIA=OLD_IMAGE,
    ):
        for name in names:
            assert kubectl.apply(namespace, manifest(name, simulated())).returncode == 0
        for name in names:
            assert _serving(api_client, namespace, name)["status"]["image"] == OLD_IMAGE
    generations = {
        n: apps.read_namespaced_deployment(f"{n}-vllm", namespace).metadata.generation
        for n in names
    }
    pods = {p.metadata.uid for p in core.list_namespaced_pod(namespace).items}

    with operator_running(
        cluster.kubeconfig,
        tmp_path / "new.log",
        GPTOSS_OPERATOR_RESYNC_SECONDS="2",
        GPTOSS_OPERATOR_VLLM_IMAGE_NVIDIA=NEW_IMAGE,
    ):
        for name in names:
            eventually(
                lambda n=name: (
                    get_cr(api_client, namespace, n)["status"].get("availableImage") == NEW_IMAGE
                ),
                timeout=60,
                what=f"the upgraded operator to report the new default on {name}",
            )
        for name in names:
            live = apps.read_namespaced_deployment(f"{name}-vllm", namespace)
            assert live.metadata.generation == generations[name]
            assert live.spec.template.spec.containers[0].image == OLD_IMAGE
        assert {p.metadata.uid for p in core.list_namespaced_pod(namespace).items} == pods

        opt_in = {"metadata": {"annotations": {"gptoss.dev/image-policy": "FollowOperator"}}}
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            "gptoss.dev", "v1alpha1", namespace, "gptossdeployments", "first", opt_in
        )
        eventually(
            lambda: (
                apps.read_namespaced_deployment("first-vllm", namespace)
                .spec.template.spec.containers[0]
                .image
                == NEW_IMAGE
            ),
            timeout=60,
            what="the opted-in CR to move to the new image",
        )
        eventually(
            lambda: get_cr(api_client, namespace, "first")["status"].get("image") == NEW_IMAGE,
            timeout=60,
            what="status.image to name the new image",
        )
        assert "availableImage" not in get_cr(api_client, namespace, "first")["status"]
        second = apps.read_namespaced_deployment("second-vllm", namespace)
        assert second.metadata.generation == generations["second"]


def test_an_operator_upgrade_that_changes_the_pods_rolls_one_deployment_at_a_time(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    apps = client.AppsV1Api(api_client)
    names = ("one", "two", "three")

    def shm(name: str) -> str:
        pod = apps.read_namespaced_deployment(f"{name}-vllm", namespace).spec.template.spec
        return next(v.empty_dir.size_limit for v in pod.volumes if v.name == "dshm")

    with operator_running(
        cluster.kubeconfig, tmp_path / "old.log", GPTOSS_OPERATOR_RESYNC_SECONDS="2"
    ):
        for name in names:
            assert kubectl.apply(namespace, manifest(name, simulated())).returncode == 0
        for name in names:
            _serving(api_client, namespace, name)
    assert {shm(n) for n in names} == {"16Gi"}

    # A new operator whose builder gives the pods a larger /dev/shm: no CR asked for it.
    most_at_once = 0
    with operator_running(
        cluster.kubeconfig,
        tmp_path / "new.log",
        GPTOSS_OPERATOR_RESYNC_SECONDS="1",
        GPTOSS_OPERATOR_SHM_SIZE="32Gi",
        GPTOSS_OPERATOR_UPGRADE_BUDGET="1",
    ):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            most_at_once = max(most_at_once, len(_rolling(api_client, namespace)))
            if {shm(n) for n in names} == {"32Gi"} and not _rolling(api_client, namespace):
                break
        else:
            raise AssertionError(f"not every Deployment moved to 32Gi: {[shm(n) for n in names]}")
    assert most_at_once == 1
