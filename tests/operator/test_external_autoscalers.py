"""HPA and KEDA can own a GptOssDeployment's replicas through its /scale subresource, as the
shipped examples in docs/autoscaling/ do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import REPO, manifest
from tests.waiting import eventually

EXAMPLES = REPO / "docs" / "autoscaling"


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def test_the_hpa_example_reads_the_crs_scale_subresource(
    gptoss_crd: dict[str, Any], api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    cr = manifest("chat", {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}})
    assert kubectl.apply(namespace, cr).returncode == 0
    hpa = _load(EXAMPLES / "hpa.yaml")
    applied = kubectl.apply(namespace, hpa)
    assert applied.returncode == 0, applied.stderr
    autoscaling = client.AutoscalingV2Api(api_client)

    seen: list[str] = []

    def able_to_scale() -> dict[str, str] | None:
        status = autoscaling.read_namespaced_horizontal_pod_autoscaler("chat", namespace).status
        for condition in (status and status.conditions) or []:
            if condition.type == "AbleToScale":
                seen.append(f"{condition.reason}: {condition.message}")
                if condition.status == "True":
                    return {"status": condition.status, "reason": condition.reason}
        return None

    # The controller's discovery cache learns a new CRD's /scale within its refresh period.
    condition = eventually(able_to_scale, timeout=120, what="the HPA to read the CR's /scale")
    assert condition == {"status": "True", "reason": "SucceededGetScale"}


def test_the_keda_example_targets_the_cr_and_counts_spilled_demand() -> None:
    scaled = _load(EXAMPLES / "keda.yaml")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("gptoss.dev/v1alpha1", "GptOssDeployment")
    assert scaled["spec"]["minReplicaCount"] == 0
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert "vllm:num_requests_waiting" in query and "gptoss_router_spilled_inflight" in query
