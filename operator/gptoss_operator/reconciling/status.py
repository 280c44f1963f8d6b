"""A GptOssDeployment's status, computed from what was observed (pure).

Three ``metav1.Condition`` types (docs/sources.md, Conditions):

* ``Ready``: at least one replica serves requests. When none does, the reason says why, most
  specific first: ``DoesNotFit``, ``ScaledToZero``, ``DownloadingWeights``/``DownloadFailed``,
  ``WaitingForGPUNode`` (the scheduler's own message), ``ImagePullFailing``, ``CrashLooping``,
  ``LoadingWeights`` (started, startup probe not yet passed), ``EngineNotReady``,
  ``CreatingPods``.
* ``Progressing``: the Deployment has not yet caught up with this generation, or fewer replicas
  serve than are wanted (``RollingOut``, ``ScalingUp``, ``ScalingDown``, ``Complete``).
  Success is judged on this generation's updated replicas, never on old ones (dynamo #3567).
* ``Degraded``: something needs a human (``DoesNotFit``, ``DownloadFailed``,
  ``WaitingForGPUNode``, ``ImagePullFailing``, ``CrashLooping``, ``RolloutStuck``,
  ``ReplicasUnavailable`` when some started replicas fail their readiness probe), else
  ``AsExpected``.

A condition keeps its ``lastTransitionTime`` while its status stays the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gptoss_operator import names
from gptoss_operator.placement.sizing import Sizing
from gptoss_operator.reconciling.observe import Observed, PodView

__all__ = ["Verdict", "compute_status", "judge"]

IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}


@dataclass(frozen=True)
class Verdict:
    """One condition's value before timestamps."""

    status: str
    reason: str
    message: str


def _first(pods: tuple[PodView, ...], reasons: set[str]) -> PodView | None:
    return next((p for p in pods if p.waiting_reason in reasons), None)


def _why_not_ready(observed: Observed, wanted: int) -> Verdict:
    pods = tuple(p for p in observed.pods if not p.terminating)
    if (pending := next((p for p in pods if p.unschedulable), None)) is not None:
        return Verdict(
            "False",
            "WaitingForGPUNode",
            f"pod {pending.name} cannot be scheduled: {pending.unschedulable}",
        )
    if (pulling := _first(pods, IMAGE_PULL)) is not None:
        return Verdict(
            "False",
            "ImagePullFailing",
            f"pod {pulling.name}: {pulling.waiting_reason}: {pulling.waiting_message}",
        )
    if (crashing := _first(pods, {"CrashLoopBackOff"})) is not None:
        return Verdict(
            "False",
            "CrashLooping",
            f"pod {crashing.name} restarted {crashing.restarts} times: "
            f"{crashing.waiting_message or 'see kubectl logs'}",
        )
    running = [p for p in pods if p.phase == "Running"]
    if any(not p.started for p in running):
        return Verdict(
            "False",
            "LoadingWeights",
            f"{len(running)} of {wanted} replicas started; vLLM is loading weights "
            "(the startup probe passes once /health answers)",
        )
    if running:
        return Verdict(
            "False",
            "EngineNotReady",
            f"{len(running)} replicas started but none passes its readiness probe",
        )
    return Verdict("False", "CreatingPods", f"waiting for {wanted} replicas to be created")


def _meanwhile(spills: bool) -> str:
    if spills:
        return "the router spills this model's requests to hosted providers meanwhile"
    return "the router holds this model's requests (up to its bound) meanwhile"


def judge(
    *,
    wanted: int,
    sizing_error: str | None,
    observed: Observed,
    spills: bool = False,
) -> dict[str, Verdict]:
    """The three conditions for this observation; ``spills``: may the router send this
    model's requests to providers while no replica serves (the CR's spillover block)."""
    ready_count = observed.deployment.ready_replicas if observed.deployment else 0
    job = observed.job
    if sizing_error is not None:
        ready = Verdict("False", "DoesNotFit", sizing_error)
    elif job is not None and job.failed:
        ready = Verdict("False", "DownloadFailed", f"weights download failed: {job.message}")
    elif job is not None and not job.succeeded:
        ready = Verdict(
            "False",
            "DownloadingWeights",
            "copying the checkpoint into the weights volume; replicas start after it",
        )
    elif ready_count > 0:
        ready = Verdict("True", "Serving", f"{ready_count} of {wanted} replicas serving")
    elif wanted == 0:
        ready = Verdict("False", "ScaledToZero", f"0 replicas wanted; {_meanwhile(spills)}")
    else:
        why = _why_not_ready(observed, wanted)
        ready = Verdict(why.status, why.reason, f"{why.message}; {_meanwhile(spills)}")

    deployment = observed.deployment
    if ready.reason in {"DoesNotFit", "DownloadFailed", "DownloadingWeights"} or deployment is None:
        progressing = Verdict(
            "True" if ready.reason == "DownloadingWeights" else "False", ready.reason, ready.message
        )
    elif deployment.observed_generation < deployment.generation or (
        deployment.updated_replicas < wanted
    ):
        progressing = Verdict(
            "True", "RollingOut", f"{deployment.updated_replicas} of {wanted} replicas updated"
        )
    elif ready_count < wanted:
        progressing = Verdict("True", "ScalingUp", f"{ready_count} of {wanted} replicas ready")
    elif deployment.replicas > wanted:
        progressing = Verdict(
            "True", "ScalingDown", f"{deployment.replicas} replicas, scaling down to {wanted}"
        )
    else:
        progressing = Verdict("False", "Complete", f"{wanted} replicas updated and ready")

    not_ready = _why_not_ready(observed, wanted) if wanted > 0 else None
    needs_human = {"DoesNotFit", "DownloadFailed"}
    stuck = {"WaitingForGPUNode", "ImagePullFailing", "CrashLooping"}
    if ready.reason in needs_human:
        degraded = Verdict("True", ready.reason, ready.message)
    elif not_ready is not None and not_ready.reason in stuck and ready_count < wanted:
        degraded = Verdict("True", not_ready.reason, not_ready.message)
    elif deployment is not None and deployment.progress_deadline_exceeded:
        degraded = Verdict("True", "RolloutStuck", "the rollout passed its progress deadline")
    elif (
        not_ready is not None and not_ready.reason == "EngineNotReady" and 0 < ready_count < wanted
    ):
        degraded = Verdict(
            "True",
            "ReplicasUnavailable",
            f"{wanted - ready_count} of {wanted} replicas started but fail their readiness probe",
        )
    else:
        degraded = Verdict("False", "AsExpected", "nothing needs attention")
    return {"Ready": ready, "Progressing": progressing, "Degraded": degraded}


def _condition(
    kind: str, verdict: Verdict, generation: int, previous: dict[str, dict[str, Any]], now: str
) -> dict[str, Any]:
    before = previous.get(kind, {})
    unchanged = before.get("status") == verdict.status
    return {
        "type": kind,
        "status": verdict.status,
        "observedGeneration": generation,
        "lastTransitionTime": before.get("lastTransitionTime", now) if unchanged else now,
        "reason": verdict.reason,
        "message": verdict.message[:32768],
    }


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
) -> dict[str, Any]:
    """The whole ``status`` object to write (compare with the current one before writing)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    verdicts = judge(wanted=wanted, sizing_error=sizing_error, observed=observed, spills=spills)
    before = {c.get("type", ""): c for c in previous.get("conditions", []) or []}
    deployment = observed.deployment
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": [
            _condition(kind, verdict, generation, before, stamp)
            for kind, verdict in verdicts.items()
        ],
        "replicas": deployment.replicas if deployment else 0,
        "readyReplicas": deployment.ready_replicas if deployment else 0,
        "selector": names.selector(cr_name),
        "endpoint": names.endpoint(cr_name, namespace),
    }
    if sizing is not None:
        status["sizing"] = {
            "tensorParallelSize": sizing.tensor_parallel_size,
            "maxModelLen": sizing.max_model_len,
            "gpuMemoryUtilization": sizing.gpu_memory_utilization,
            "maxNumBatchedTokens": sizing.max_num_batched_tokens,
            "kvCacheGiB": round(sizing.kv_cache_gib, 2),
            "maxFullLengthSequences": sizing.max_full_length_sequences,
        }
    return status
