"""When a child is applied again (pure): only when something the operator owns would change,
including a field another writer took over, through /scale as well as by an Update."""

from __future__ import annotations

import copy
from typing import Any

from gptoss_operator.kube.client import FIELD_MANAGER
from gptoss_operator.reconciling.drift import needs_apply, stamp

DESIRED = stamp(
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat-vllm", "namespace": "ml"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "vllm"}]}}},
    }
)
OURS = {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}


def _live(replicas: int, *entries: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(DESIRED)
    live["spec"]["replicas"] = replicas
    live["metadata"]["managedFields"] = [OURS, *entries]
    return live


def test_a_settled_child_is_not_applied_again() -> None:
    assert not needs_apply(_live(1), DESIRED, FIELD_MANAGER)


def test_replicas_scaled_through_the_deployments_scale_subresource_are_taken_back() -> None:
    scaled = {
        "manager": "kubectl",
        "operation": "Update",
        "subresource": "scale",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    assert needs_apply(_live(4, scaled), DESIRED, FIELD_MANAGER)


def test_a_status_writer_takes_nothing_the_operator_sets() -> None:
    status = {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "subresource": "status",
        "fieldsV1": {"f:status": {"f:replicas": {}}},
    }
    assert not needs_apply(_live(1, status), DESIRED, FIELD_MANAGER)
