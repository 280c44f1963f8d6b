"""A GptOssDeployment's status, built from the judged conditions and what was observed (pure).

The ``Ready``, ``Progressing`` and ``Degraded`` verdicts come from ``judging``; this module
stamps them as ``metav1.Condition`` objects, adds the replica counts, sizing, image, adapters and
endpoint, and renders the whole as the API server stores it.

While ``spec.inferencePool.enabled``, ``InferencePoolReady`` says whether the pool was applied:
``False`` with reason ``InferencePoolCRDMissing`` when the API server does not serve the kind,
which would otherwise go unnoticed (the deployment itself serves through the router either way).

A condition keeps its ``lastTransitionTime`` while its status stays the same. Conditions of
other types (the autoscaler's ``MetricsAvailable``) are someone else's: they are kept as found,
after these; except ``MetricsAvailable`` once ``spec.autoscaling`` is gone, since the autoscaler
no longer looks at the CR and nobody else would ever take it away.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gptoss_operator import names
from gptoss_operator.api.redaction import redacted
from gptoss_operator.api.status import (
    AdapterStatus,
    Condition,
    GptOssDeploymentStatus,
    SizingStatus,
)
from gptoss_operator.placement.sizing import Sizing
from gptoss_operator.reconciling.judging import Verdict, judge
from gptoss_operator.reconciling.observe import Observed
from gptoss_operator.reconciling.reasons import ConditionType, Reason

__all__ = ["PoolState", "compute_status", "to_wire"]


@dataclass(frozen=True)
class PoolState:
    """The CR's InferencePool when it asks for one: its name once applied, or None when the API
    server does not serve the InferencePool kind."""

    name: str | None
    fence: str | None = None  # the NetworkPolicy that fences the pods, when the operator makes one


_POOL_MISSING = (
    "spec.inferencePool.enabled is true, but the API server does not serve InferencePool "
    "(inference.networking.k8s.io/v1): install the Gateway API Inference Extension's CRDs, or "
    "set spec.inferencePool.enabled to false; the deployment serves through the router meanwhile"
)


def _condition(
    kind: ConditionType,
    verdict: Verdict,
    generation: int,
    previous: dict[str, dict[str, Any]],
    now: dt.datetime,
) -> Condition:
    before = previous.get(kind, {})
    unchanged = before.get("status") == verdict.status and "lastTransitionTime" in before
    since = dt.datetime.fromisoformat(before["lastTransitionTime"]) if unchanged else now
    return Condition(
        type=kind,
        status=verdict.status,
        observed_generation=generation,
        last_transition_time=since,
        reason=verdict.reason,
        message=redacted(verdict.message)[:32768],  # it may quote a spec's or a log's words
    )


def compute_status(
    *,
    cr_name: str,
    namespace: str,
    generation: int,
    wanted: int,
    sizing: Sizing | None,
    sizing_error: str | None,
    observed: Observed,
    previous: dict[str, Any],
    now: dt.datetime,
    spills: bool = False,
    serving_args_error: str | None = None,
    sizing_reason: Reason = Reason.DOES_NOT_FIT,
    child_error: str | None = None,
    image: str | None = None,
    available_image: str | None = None,
    inference_pool: PoolState | None = None,
    served_model_name: str | None = None,
    adapters: Sequence[str] = (),
    autoscaled: bool = True,
) -> GptOssDeploymentStatus:
    """The whole ``status`` to write (``to_wire`` it and compare with the current one);
    ``adapters``: the spec's LoRA adapters, each reported with the ready pods that load it;
    ``autoscaled``: the spec has ``autoscaling`` (else the autoscaler's condition goes)."""
    stamp = now.astimezone(dt.UTC).replace(microsecond=0)
    verdicts = judge(
        wanted=wanted,
        sizing_error=sizing_error,
        observed=observed,
        spills=spills,
        serving_args_error=serving_args_error,
        sizing_reason=sizing_reason,
        child_error=child_error,
    )
    before = {c.get("type", ""): c for c in previous.get("conditions", []) or []}
    if inference_pool is not None:
        verdicts[ConditionType.INFERENCE_POOL_READY] = _pool_verdict(inference_pool)
    deployment = observed.deployment
    return GptOssDeploymentStatus(
        observed_generation=generation,
        conditions=[
            *(
                _condition(kind, verdict, generation, before, stamp)
                for kind, verdict in verdicts.items()
            ),
            *_others(before, {*verdicts, *_not_kept(autoscaled)}),
        ],
        replicas=deployment.replicas if deployment else 0,
        ready_replicas=deployment.ready_replicas if deployment else 0,
        selector=names.selector(cr_name),
        endpoint=names.endpoint(cr_name, namespace),
        sizing=_sizing(sizing) if sizing is not None else None,
        image=image,
        available_image=available_image,
        inference_pool=inference_pool.name if inference_pool is not None else None,
        served_model_name=served_model_name,
        adapters=_adapters(adapters, observed) if adapters else None,
    )


def _not_kept(autoscaled: bool) -> set[ConditionType]:
    """The condition types no one else writes now: the pool's is judged here or gone, the
    autoscaler's goes with ``spec.autoscaling``."""
    if autoscaled:
        return {ConditionType.INFERENCE_POOL_READY}
    return {ConditionType.INFERENCE_POOL_READY, ConditionType.METRICS_AVAILABLE}


def _pool_verdict(pool: PoolState) -> Verdict:
    if pool.name is None:
        return Verdict("False", Reason.INFERENCE_POOL_CRD_MISSING, _POOL_MISSING)
    message = f"InferencePool {pool.name} selects this deployment's vLLM pods"
    if pool.fence is not None:
        message += (
            f"; NetworkPolicy {pool.fence} admits only the router and the operator to their port, "
            "so give the Gateway's proxies and the endpoint picker a NetworkPolicy of their own "
            "to reach it (policies add up)"
        )
    return Verdict("True", Reason.INFERENCE_POOL_APPLIED, message)


def _adapters(wanted: Sequence[str], observed: Observed) -> list[AdapterStatus]:
    """Per adapter: the ready, not terminating pods whose vLLM loads it."""
    serving = [p for p in observed.pods if p.ready and not p.terminating]
    loaded = {name: sorted(p.name for p in serving if name in p.adapters) for name in wanted}
    return [
        AdapterStatus(name=name, ready_replicas=len(pods), pods=pods or None)
        for name, pods in loaded.items()
    ]


def _others(before: dict[str, dict[str, Any]], judged: set[ConditionType]) -> list[Condition]:
    """The conditions of types this module does not judge, as they were (unreadable ones go)."""
    kept = []
    for kind, condition in before.items():
        if kind in judged:
            continue
        try:
            kept.append(Condition.model_validate(condition))
        except ValidationError:
            continue
    return kept


def _sizing(sizing: Sizing) -> SizingStatus:
    return SizingStatus(
        tensor_parallel_size=sizing.tensor_parallel_size,
        max_model_len=sizing.max_model_len,
        gpu_memory_utilization=sizing.gpu_memory_utilization,
        max_num_batched_tokens=sizing.max_num_batched_tokens,
        kv_cache_gib=round(sizing.kv_cache_gib, 2),
        max_full_length_sequences=sizing.max_full_length_sequences,
        max_num_seqs=sizing.max_num_seqs,
        max_loras=sizing.budget.lora.max_loras if sizing.budget.lora else None,
        max_lora_rank=sizing.budget.lora.max_lora_rank if sizing.budget.lora else None,
        adapter_memory_gib=round(sizing.lora_gib, 2) if sizing.budget.lora else None,
    )


def to_wire(status: GptOssDeploymentStatus) -> dict[str, Any]:
    """``status`` as the API server stores it: camelCase, RFC 3339 times in UTC, no nulls."""
    wire: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    for condition in wire.get("conditions", []):
        condition["lastTransitionTime"] = condition["lastTransitionTime"].replace("+00:00", "Z")
    return wire
