"""Weights on the real control plane: changing ``spec.source`` runs a new download Job (one per
source), as the pods' service account; a ReadWriteOnce cache cannot be scaled past one replica.

KWOK runs no volume attach or Job container, so the Jobs stay active here; what is checked is
the operator's decision (which Job, with what) and the API server's refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, get_cr
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with operator_running(cluster.kubeconfig, log, GPTOSS_OPERATOR_RESYNC_SECONDS="2") as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _jobs(api_client: client.ApiClient, namespace: str) -> dict[str, Any]:
    found = client.BatchV1Api(api_client).list_namespaced_job(namespace).items
    return {j.metadata.name: j for j in found}


def test_a_source_change_runs_the_download_again_as_the_pods_service_account(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec: dict[str, Any] = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "source": {"uri": "hf://openai/gpt-oss-20b"},
        "cache": {"pvc": {"size": "100Gi"}},
        "pod": {"serviceAccountName": "default"},
    }
    assert kubectl.apply(namespace, manifest("weights", spec)).returncode == 0
    (first,) = eventually(
        lambda: list(_jobs(api_client, namespace).values()), timeout=60, what="a download Job"
    )
    assert first.spec.template.spec.service_account_name == "default"
    ready = eventually(
        lambda: condition(get_cr(api_client, namespace, "weights"), "Ready"),
        timeout=60,
        what="a Ready condition",
    )
    assert ready["reason"] == "DownloadingWeights"

    spec["source"]["revision"] = "6cee5e8"
    assert kubectl.apply(namespace, manifest("weights", spec)).returncode == 0

    def two_jobs() -> dict[str, Any] | None:
        found = _jobs(api_client, namespace)
        return found if len(found) == 2 else None

    jobs = eventually(
        two_jobs,
        timeout=60,
        what="a second download Job for the new revision",
    )
    (second,) = [j for name, j in jobs.items() if name != first.metadata.name]
    command = second.spec.template.spec.containers[0].command
    assert command[command.index("--revision") + 1] == "6cee5e8"
    assert "--revision" not in first.spec.template.spec.containers[0].command
    owners = {o.uid for j in jobs.values() for o in j.metadata.owner_references}
    assert owners == {get_cr(api_client, namespace, "weights")["metadata"]["uid"]}
    args = (
        client.AppsV1Api(api_client)
        .read_namespaced_deployment("weights-vllm", namespace)
        .spec.template.spec.containers[0]
        .args
    )
    assert not args[0].endswith("@6cee5e8")  # the old source until the new one is in
    # A scale is applied while the new source downloads; the pods keep the old source.
    assert kubectl("scale", "gptoss/weights", "--replicas=0", "-n", namespace).returncode == 0
    apps = client.AppsV1Api(api_client)
    scaled = eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("weights-vllm", namespace)).spec.replicas == 0
            and d
        ),
        timeout=60,
        what="the scale to zero while the new source downloads",
    )
    assert scaled.spec.template.spec.containers[0].args == args


def test_a_read_write_once_cache_cannot_be_scaled_past_one_replica(
    api_client: client.ApiClient, gptoss_crd: dict[str, Any], namespace: str, kubectl: Kubectl
) -> None:
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "cache": {"pvc": {"size": "100Gi"}},
    }
    assert kubectl.apply(namespace, manifest("single", spec)).returncode == 0
    scaled = kubectl("scale", "gptoss/single", "--replicas=2", "-n", namespace)
    assert scaled.returncode != 0
    assert (
        "ReadWriteOnce mounts the weights on one node only, but spec.replicas is 2" in scaled.stderr
    )
    spec["cache"] = {"pvc": {"size": "100Gi", "accessMode": "ReadWriteMany"}}
    spec["replicas"] = 2
    applied = kubectl.apply(namespace, {**manifest("shared", spec)})
    assert applied.returncode == 0, applied.stderr
    stored = json.loads(kubectl("get", "gptoss/shared", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["replicas"] == 2
