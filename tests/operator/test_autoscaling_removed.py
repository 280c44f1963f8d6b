"""Once ``spec.autoscaling`` is removed the autoscaler no longer looks at the CR, so the
reconcile takes away what it had written: ``status.autoscaling`` and the ``MetricsAvailable``
condition. While the spec has it, both stay as the autoscaler wrote them."""

from __future__ import annotations

from typing import Any

from gptoss_operator.reconciling.observe import DeploymentView, Observed
from gptoss_operator.reconciling.outcome import status_patch
from gptoss_operator.reconciling.status import compute_status, to_wire
from tests.operator.memory_api import NOW, MemoryApi, cr, reconciled

THEIRS = {
    "type": "MetricsAvailable",
    "status": "False",
    "observedGeneration": 4,
    "lastTransitionTime": "2026-11-25T11:00:00Z",
    "reason": "MetricsUnavailable",
    "message": "no answer from the metrics of pod chat-vllm-abc; the autoscaler keeps 3 replicas",
}
AUTOSCALING = {"desiredReplicas": 3, "reason": "QueueAboveTarget", "message": "queue 40"}


def _written(*, autoscaled: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The status a reconcile computes over one the autoscaler wrote to, and its patch."""

    def computed(previous: dict[str, Any], **more: Any) -> dict[str, Any]:
        status = compute_status(
            cr_name="chat",
            namespace="ml",
            generation=5,
            wanted=1,
            sizing=None,
            sizing_error=None,
            observed=Observed(DeploymentView(5, 5, 1, 1, 1, False), (), None),
            previous=previous,
            now=NOW,
            **more,
        )
        return to_wire(status)

    ours = computed({})
    previous = {**ours, "conditions": [*ours["conditions"], THEIRS], "autoscaling": AUTOSCALING}
    status = computed(previous, autoscaled=autoscaled)
    return status, status_patch(previous, status, autoscaled=autoscaled)


def test_without_spec_autoscaling_its_status_and_metrics_condition_are_cleared() -> None:
    status, patch = _written(autoscaled=False)
    assert "MetricsAvailable" not in [c["type"] for c in status["conditions"]]
    assert patch is not None
    assert patch["autoscaling"] is None  # a merge patch's null deletes the key
    assert [c["type"] for c in patch["conditions"]] == ["Ready", "Progressing", "Degraded"]


def test_while_autoscaled_the_autoscalers_status_and_condition_are_left_alone() -> None:
    status, patch = _written(autoscaled=True)
    assert [c["type"] for c in status["conditions"]][-1] == "MetricsAvailable"
    assert patch is None  # nothing changed, nothing written


def test_reconciling_a_cr_without_autoscaling_clears_what_the_autoscaler_wrote() -> None:
    api = MemoryApi()
    body = cr(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "replicas": 3}, generation=5
    )
    written = reconciled(api, body)
    body["status"] = {
        **written,
        "conditions": [*written["conditions"], THEIRS],
        "autoscaling": AUTOSCALING,
    }
    reconciled(api, body)
    patch = api.status_patches[-1]
    assert patch["autoscaling"] is None
    assert "MetricsAvailable" not in [c["type"] for c in patch["conditions"]]
    with_autoscaling = {**body, "spec": {**body["spec"], "autoscaling": {"maxReplicas": 4}}}
    before = len(api.status_patches)
    reconciled(api, with_autoscaling)
    assert len(api.status_patches) == before  # while autoscaled, they are the autoscaler's
