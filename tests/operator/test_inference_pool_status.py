"""A GptOssDeployment that asks for an InferencePool says whether it got one: applied, or the
API server does not serve the kind (the Gateway API Inference Extension is not installed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import Owner
from gptoss_operator.errors import KubeRejected
from gptoss_operator.reconciling.applying import ensure_inference_pool
from gptoss_operator.reconciling.observe import DeploymentView, Observed
from gptoss_operator.reconciling.outcome import events
from gptoss_operator.reconciling.status import PoolState, compute_status, to_wire

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
OBSERVED = Observed(
    deployment=DeploymentView(
        generation=1,
        observed_generation=1,
        replicas=1,
        ready_replicas=1,
        updated_replicas=1,
        progress_deadline_exceeded=False,
    ),
    pods=(),
    job=None,
)


def _status(pool: PoolState | None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    return to_wire(
        compute_status(
            cr_name="chat",
            namespace="ml",
            generation=1,
            wanted=1,
            sizing=None,
            sizing_error=None,
            observed=OBSERVED,
            previous=previous or {},
            now=NOW,
            inference_pool=pool,
        )
    )


def _condition(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status["conditions"] if c["type"] == "InferencePoolReady"), None)


def test_a_pool_asked_for_without_its_crd_is_a_warning_naming_the_field_and_the_kind() -> None:
    status = _status(PoolState(None))
    condition = _condition(status)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "InferencePoolCRDMissing")
    assert "spec.inferencePool.enabled" in condition["message"]
    assert "inference.networking.k8s.io/v1" in condition["message"]
    assert "inferencePool" not in status
    warned = [e for e in events({}, status) if e.reason == "InferencePoolCRDMissing"]
    assert [e.type for e in warned] == ["Warning"]
    assert not [e for e in events(status, _status(PoolState(None))) if "Pool" in e.reason]


def test_an_applied_pool_is_ready_and_named_and_the_warning_clears() -> None:
    missing = _status(PoolState(None))
    applied = _status(PoolState("chat"), previous=missing)
    condition = _condition(applied)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "InferencePoolApplied")
    assert applied["inferencePool"] == "chat"
    assert [e.type for e in events(missing, applied) if e.reason == "InferencePoolApplied"] == [
        "Normal"
    ]


def test_a_pool_whose_pods_are_fenced_says_what_the_gateway_needs_to_reach_them() -> None:
    """The fence admits only the router and the operator to vLLM's port; the Gateway's proxies
    and the endpoint picker need a policy of their own, and the condition says so."""
    condition = _condition(_status(PoolState("chat", fence="chat-vllm")))
    assert condition is not None and condition["status"] == "True"
    assert "NetworkPolicy chat-vllm admits only the router and the operator" in condition["message"]
    assert "endpoint picker a NetworkPolicy of their own" in condition["message"]
    unfenced = _condition(_status(PoolState("chat")))
    assert unfenced is not None and "NetworkPolicy" not in unfenced["message"]


def test_turning_the_pool_off_removes_its_condition() -> None:
    applied = _status(PoolState("chat"))
    off = _status(None, previous=applied)
    assert _condition(off) is None
    assert [c["type"] for c in off["conditions"]] == ["Ready", "Progressing", "Degraded"]


class _NoPoolKind:
    """The API server without the Gateway API Inference Extension: 404 for InferencePool."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        raise KubeRejected(f"the server could not find the requested resource ({kind})", status=404)


def test_the_operator_reads_a_404_for_the_pool_as_the_crd_not_installed() -> None:
    spec = GptOssDeploymentSpec.model_validate(
        {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB"},
            "inferencePool": {"enabled": True},
        }
    )
    owner = Owner(name="chat", namespace="ml", uid="u-1")
    assert ensure_inference_pool(_NoPoolKind(), owner, spec) == PoolState(None)  # type: ignore[arg-type]
    off = GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    )
    assert ensure_inference_pool(_NoPoolKind(), owner, off) is None  # type: ignore[arg-type]
