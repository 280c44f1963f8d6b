"""A GptOssDeployment's status, computed from what was observed (pure).

Three ``metav1.Condition`` types (docs/sources.md, Conditions):

* ``Ready``: at least one replica serves requests. When none does, the reason says why, most
  specific first: ``DoesNotFit``, ``NoNodeLargeEnough``, ``ScaledToZero``,
  ``DownloadingWeights``/``DownloadFailed``,
  ``PodCreationFailed`` (the API server refused the pod: quota, Pod Security, a missing
  ServiceAccount or PriorityClass), ``WaitingForGPUNode`` (the scheduler's own message),
  ``VolumeMountFailed``, ``InitContainerFailed``, ``ContainerConfigInvalid`` (a missing Secret
  or ConfigMap key), ``ImagePullFailing``, ``CrashLooping``,
  ``LoadingWeights`` (started, startup probe not yet passed), ``EngineNotReady``,
  ``CreatingPods``.
* ``Progressing``: the Deployment has not yet caught up with this generation, or fewer replicas
  serve than are wanted (``RollingOut``, ``ScalingUp``, ``ScalingDown``, ``Complete``).
  Success is judged on this generation's updated replicas, never on old ones (dynamo #3567).
* ``Degraded``: something needs a human (``DoesNotFit``, ``InvalidServingArgs``, ``DownloadFailed``,
  each stuck reason of ``Ready`` above with Kubernetes' own message, ``RolloutStuck``,
  ``ReplicasUnavailable`` when some started replicas fail their readiness probe), else
  ``AsExpected``.

A condition keeps its ``lastTransitionTime`` while its status stays the same. Conditions of
other types (the autoscaler's ``MetricsAvailable``) are someone else's: they are kept as found,
after these three.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from gptoss_operator import names
from gptoss_operator.api import AdapterStatus, Condition, GptOssDeploymentStatus, SizingStatus
from gptoss_operator.placement.sizing import Sizing
from gptoss_operator.reconciling.not_ready import Verdict, why_not_ready
from gptoss_operator.reconciling.observe import DeploymentView, Observed
from gptoss_operator.reconciling.reasons import ConditionType, Reason

__all__ = ["Verdict", "compute_status", "judge", "to_wire"]

_NEEDS_HUMAN = {
    Reason.DOES_NOT_FIT,
    Reason.NO_NODE_LARGE_ENOUGH,
    Reason.INVALID_SERVING_ARGS,
    Reason.INVALID_ADAPTERS,
    Reason.SERVED_NAME_TAKEN,
    Reason.DOWNLOAD_FAILED,
}
_STUCK = {
    Reason.POD_CREATION_FAILED,
    Reason.WAITING_FOR_GPU_NODE,
    Reason.VOLUME_MOUNT_FAILED,
    Reason.INIT_CONTAINER_FAILED,
    Reason.CONTAINER_CONFIG_INVALID,
    Reason.IMAGE_PULL_FAILING,
    Reason.CRASH_LOOPING,
}
_BEFORE_PODS = {*_NEEDS_HUMAN, Reason.DOWNLOADING_WEIGHTS}


def _meanwhile(spills: bool) -> str:
    if spills:
        return "the router spills this model's requests to hosted providers meanwhile"
    return "the router holds this model's requests (up to its bound) meanwhile"


def _ready(
    wanted: int, ready_count: int, refusal: Verdict | None, observed: Observed, spills: bool
) -> Verdict:
    job = observed.job
    if refusal is not None:
        return refusal
    if job is not None and job.failed and ready_count == 0:
        return Verdict("False", Reason.DOWNLOAD_FAILED, f"weights download failed: {job.message}")
    if job is not None and not job.succeeded and ready_count == 0:
        return Verdict(
            "False",
            Reason.DOWNLOADING_WEIGHTS,
            "copying the checkpoint into the weights volume; replicas start after it",
        )
    if ready_count > 0:
        return Verdict("True", Reason.SERVING, f"{ready_count} of {wanted} replicas serving")
    if wanted == 0:
        return Verdict("False", Reason.SCALED_TO_ZERO, f"0 replicas wanted; {_meanwhile(spills)}")
    why = why_not_ready(observed, wanted)
    return Verdict(why.status, why.reason, f"{why.message}; {_meanwhile(spills)}")


def _progressing(
    wanted: int, ready_count: int, ready: Verdict, deployment: DeploymentView | None
) -> Verdict:
    if ready.reason in _BEFORE_PODS or deployment is None:
        going = ready.reason == Reason.DOWNLOADING_WEIGHTS
        return Verdict("True" if going else "False", ready.reason, ready.message)
    if deployment.observed_generation < deployment.generation or (
        deployment.updated_replicas < wanted
    ):
        return Verdict(
            "True",
            Reason.ROLLING_OUT,
            f"{deployment.updated_replicas} of {wanted} replicas updated",
        )
    if ready_count < wanted:
        return Verdict("True", Reason.SCALING_UP, f"{ready_count} of {wanted} replicas ready")
    if deployment.replicas > wanted:
        return Verdict(
            "True", Reason.SCALING_DOWN, f"{deployment.replicas} replicas, scaling down to {wanted}"
        )
    return Verdict("False", Reason.COMPLETE, f"{wanted} replicas updated and ready")


def _degraded(wanted: int, ready_count: int, ready: Verdict, observed: Observed) -> Verdict:
    deployment = observed.deployment
    not_ready = why_not_ready(observed, wanted) if wanted > 0 else None
    if ready.reason in _NEEDS_HUMAN:
        return Verdict("True", ready.reason, ready.message)
    if observed.job is not None and observed.job.failed:
        return Verdict(
            "True",
            Reason.DOWNLOAD_FAILED,
            f"downloading the new source failed: {observed.job.message}; the replicas keep "
            "serving the previous one",
        )
    if not_ready is not None and not_ready.reason in _STUCK and ready_count < wanted:
        return Verdict("True", not_ready.reason, not_ready.message)
    if deployment is not None and deployment.progress_deadline_exceeded:
        return Verdict("True", Reason.ROLLOUT_STUCK, "the rollout passed its progress deadline")
    if (
        not_ready is not None
        and not_ready.reason == Reason.ENGINE_NOT_READY
        and 0 < ready_count < wanted
    ):
        return Verdict(
            "True",
            Reason.REPLICAS_UNAVAILABLE,
            f"{wanted - ready_count} of {wanted} replicas started but fail their readiness probe",
        )
    return Verdict("False", Reason.AS_EXPECTED, "nothing needs attention")


def judge(
    *,
    wanted: int,
    sizing_error: str | None,
    observed: Observed,
    spills: bool = False,
    serving_args_error: str | None = None,
    sizing_reason: Reason = Reason.DOES_NOT_FIT,
) -> dict[ConditionType, Verdict]:
    """The three conditions for this observation; ``spills``: may the router send this
    model's requests to providers while no replica serves (the CR's spillover block).

    ``sizing_error`` and ``serving_args_error`` are the reasons the operator refused to build a
    Deployment at all: the model does not fit (``sizing_reason``: ``DoesNotFit``, or
    ``NoNodeLargeEnough`` when no node of the product has the GPUs one replica needs), or vLLM
    would refuse its command line.
    """
    ready_count = observed.deployment.ready_replicas if observed.deployment else 0
    refusal = None
    if sizing_error is not None:
        refusal = Verdict("False", sizing_reason, sizing_error)
    elif serving_args_error is not None and ready_count == 0:
        refusal = Verdict("False", Reason.INVALID_SERVING_ARGS, serving_args_error)
    ready = _ready(wanted, ready_count, refusal, observed, spills)
    degraded = _degraded(wanted, ready_count, ready, observed)
    if serving_args_error is not None and sizing_error is None:
        # Replicas of the last valid command line keep serving; the new one is never rolled out.
        degraded = Verdict("True", Reason.INVALID_SERVING_ARGS, serving_args_error)
    progressing = _progressing(wanted, ready_count, ready, observed.deployment)
    job = observed.job
    if job is not None and not job.succeeded and not job.failed and ready_count > 0:
        progressing = Verdict(
            "True",
            Reason.DOWNLOADING_WEIGHTS,
            "copying the new source into the weights volume; the replicas keep serving the "
            "previous one and roll out after it",
        )
    return {
        ConditionType.READY: ready,
        ConditionType.PROGRESSING: progressing,
        ConditionType.DEGRADED: degraded,
    }


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
        message=verdict.message[:32768],
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
    image: str | None = None,
    available_image: str | None = None,
    inference_pool: str | None = None,
    served_model_name: str | None = None,
    adapters: Sequence[str] = (),
) -> GptOssDeploymentStatus:
    """The whole ``status`` to write (``to_wire`` it and compare with the current one);
    ``adapters``: the spec's LoRA adapters, each reported with the ready pods that load it."""
    stamp = now.astimezone(dt.UTC).replace(microsecond=0)
    verdicts = judge(
        wanted=wanted,
        sizing_error=sizing_error,
        observed=observed,
        spills=spills,
        serving_args_error=serving_args_error,
        sizing_reason=sizing_reason,
    )
    before = {c.get("type", ""): c for c in previous.get("conditions", []) or []}
    deployment = observed.deployment
    return GptOssDeploymentStatus(
        observed_generation=generation,
        conditions=[
            *(
                _condition(kind, verdict, generation, before, stamp)
                for kind, verdict in verdicts.items()
            ),
            *_others(before, set(verdicts)),
        ],
        replicas=deployment.replicas if deployment else 0,
        ready_replicas=deployment.ready_replicas if deployment else 0,
        selector=names.selector(cr_name),
        endpoint=names.endpoint(cr_name, namespace),
        sizing=_sizing(sizing) if sizing is not None else None,
        image=image,
        available_image=available_image,
        inference_pool=inference_pool,
        served_model_name=served_model_name,
        adapters=_adapters(adapters, observed) if adapters else None,
    )


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
