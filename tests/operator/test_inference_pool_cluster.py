"""A GptOssDeployment's InferencePool (Gateway API Inference Extension, v1) on the real control
plane, with the project's own CRD from its Go module at the pinned version: created when asked
for, following the CR, validated by the extension's schema, gone with the CR's owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.inference_extension import INFERENCE_EXTENSION_VERSION, inference_pool_crd
from tests.operator.conftest import Kubectl
from tests.operator.crs import get_cr, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

GROUP, VERSION, PLURAL = "inference.networking.k8s.io", "v1", "inferencepools"


@pytest.fixture(scope="module")
def pool_crd(kubectl: Kubectl, api_client: client.ApiClient) -> Path:
    crd = inference_pool_crd()
    assert INFERENCE_EXTENSION_VERSION in str(crd)
    applied = kubectl("apply", "--server-side", "-f", str(crd))
    assert applied.returncode == 0, applied.stderr
    eventually(
        lambda: kubectl("get", PLURAL + "." + GROUP, "-A").returncode == 0,
        timeout=60,
        what="the InferencePool CRD to be served",
    )
    return crd


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    pool_crd: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with operator_running(cluster.kubeconfig, log, GPTOSS_OPERATOR_RESYNC_SECONDS="2") as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _pool(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def test_an_inference_pool_follows_the_cr_that_asks_for_one(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    spec = simulated(inferencePool={"enabled": True, "endpointPicker": {"name": "chat-epp"}})
    assert kubectl.apply(namespace, manifest("chat", spec)).returncode == 0
    pool = eventually(lambda: _pool(api_client, namespace, "chat"), timeout=60, what="a pool")
    assert pool["spec"]["selector"] == {"matchLabels": {"gptoss.dev/deployment": "chat"}}
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    ref = pool["spec"]["endpointPickerRef"]
    assert (ref["name"], ref["port"], ref["failureMode"]) == (
        "chat-epp",
        {"number": 9002},
        "FailClose",
    )
    cr = get_cr(api_client, namespace, "chat")
    assert [o["uid"] for o in pool["metadata"]["ownerReferences"]] == [cr["metadata"]["uid"]]
    eventually(
        lambda: (
            (get_cr(api_client, namespace, "chat").get("status") or {}).get("inferencePool")
            == "chat"
        ),
        timeout=30,
        what="status.inferencePool",
    )

    def pool_ready() -> tuple[str, str] | None:
        conditions = get_cr(api_client, namespace, "chat")["status"].get("conditions", [])
        found = [
            (c["status"], c["reason"]) for c in conditions if c["type"] == "InferencePoolReady"
        ]
        return found[0] if found else None

    eventually(
        lambda: pool_ready() == ("True", "InferencePoolApplied"),
        timeout=30,
        what="the InferencePoolReady condition",
    )

    spec["inferencePool"]["endpointPicker"] = {
        "name": "shared-epp",
        "port": 9102,
        "failureMode": "FailOpen",
    }
    assert kubectl.apply(namespace, manifest("chat", spec)).returncode == 0

    def followed() -> bool:
        found = _pool(api_client, namespace, "chat")
        ref = found["spec"]["endpointPickerRef"] if found else {}
        return ref.get("name") == "shared-epp" and ref.get("port") == {"number": 9102}

    eventually(followed, timeout=60, what="the pool to follow the CR's endpoint picker")
    assert (
        _pool(api_client, namespace, "chat")["spec"]["endpointPickerRef"]["failureMode"]
        == "FailOpen"
    )  # type: ignore[index]


def test_no_inference_pool_unless_asked_for(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    assert kubectl.apply(namespace, manifest("plain", simulated())).returncode == 0
    eventually(
        lambda: get_cr(api_client, namespace, "plain").get("status", {}).get("endpoint"),
        timeout=60,
        what="the CR to be reconciled",
    )
    assert _pool(api_client, namespace, "plain") is None
    status = get_cr(api_client, namespace, "plain")["status"]
    assert "inferencePool" not in status
    assert "InferencePoolReady" not in [c["type"] for c in status["conditions"]]
