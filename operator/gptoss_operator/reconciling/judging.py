"""The three conditions of a GptOssDeployment, judged from what was observed (pure).

Three ``metav1.Condition`` types (docs/sources.md, Conditions):

* ``Ready``: at least one replica serves requests. When none does, the reason says why, most
  specific first: ``DoesNotFit``, ``NoNodeLargeEnough``, ``ScaledToZero``,
  ``DownloadingWeights``/``DownloadFailed`` (only before any source is on the weights volume:
  while a new one downloads, the replicas of the previous one run and are judged as any are),
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

``status`` turns these verdicts into the conditions it writes.
"""

from __future__ import annotations

from gptoss_operator.reconciling.not_ready import Verdict, why_not_ready
from gptoss_operator.reconciling.observe import DeploymentView, JobView, Observed
from gptoss_operator.reconciling.reasons import ConditionType, Reason

__all__ = ["Verdict", "judge"]

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
    # With an earlier source on the volume, its replicas run while the new one downloads:
    # they are judged as any replicas are.
    first = ready_count == 0 and not _earlier_source(observed)
    if job is not None and job.failed and first:
        return Verdict(
            "False",
            Reason.DOWNLOAD_FAILED,
            f"weights download failed: {job.message}; no replica starts before a source is "
            f"downloaded. {_retry(job)}",
        )
    if job is not None and not job.succeeded and first:
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


def _retry(job: JobView) -> str:
    """How a failed download runs again: a Job that ran out of retries stays failed (Kubernetes
    never runs it again), and one per source is all the operator makes."""
    return (
        f"Once the cause is fixed (the Secret's token, the source's address), delete Job "
        f"{job.name} and the operator runs the download again"
    )


def _degraded(wanted: int, ready_count: int, ready: Verdict, observed: Observed) -> Verdict:
    deployment = observed.deployment
    not_ready = why_not_ready(observed, wanted) if wanted > 0 else None
    if ready.reason in _NEEDS_HUMAN:
        return Verdict("True", ready.reason, ready.message)
    if observed.job is not None and observed.job.failed:
        kept = (
            "the replicas keep serving the previous one"
            if ready_count > 0
            else "the Deployment keeps the previous one"
        )
        return Verdict(
            "True",
            Reason.DOWNLOAD_FAILED,
            f"downloading the new source failed: {observed.job.message}; {kept}. "
            f"{_retry(observed.job)}",
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
        return Verdict("True", Reason.REPLICAS_UNAVAILABLE, not_ready.message)
    return Verdict("False", Reason.AS_EXPECTED, "nothing needs attention")


def _earlier_source(observed: Observed) -> bool:
    """Whether the Deployment's pod template loads a source that was downloaded before."""
    return observed.deployment is not None and observed.deployment.weights_ready


def judge(
    *,
    wanted: int,
    sizing_error: str | None,
    observed: Observed,
    spills: bool = False,
    serving_args_error: str | None = None,
    sizing_reason: Reason = Reason.DOES_NOT_FIT,
    child_error: str | None = None,
) -> dict[ConditionType, Verdict]:
    """The three conditions for this observation; ``spills``: may the router send this
    model's requests to providers while no replica serves (the CR's spillover block).

    ``sizing_error`` and ``serving_args_error`` are the reasons the operator refused to build a
    Deployment at all: the model does not fit (``sizing_reason``: ``DoesNotFit``, or
    ``NoNodeLargeEnough`` when no node of the product has the GPUs one replica needs), or vLLM
    would refuse its command line. ``child_error``: the API server refused a child this spec
    builds (a value the CRD admits and Kubernetes does not).
    """
    ready_count = observed.deployment.ready_replicas if observed.deployment else 0
    refusal = None
    if sizing_error is not None and ready_count == 0:
        refusal = Verdict("False", sizing_reason, sizing_error)
    elif serving_args_error is not None and ready_count == 0:
        refusal = Verdict("False", Reason.INVALID_SERVING_ARGS, serving_args_error)
    elif child_error is not None and ready_count == 0:
        refusal = Verdict("False", Reason.CHILD_REJECTED, child_error)
    ready = _ready(wanted, ready_count, refusal, observed, spills)
    degraded = _degraded(wanted, ready_count, ready, observed)
    if sizing_error is not None:
        # Replicas of the last spec it accepted keep serving; this one is never rolled out.
        degraded = Verdict("True", sizing_reason, sizing_error)
    elif serving_args_error is not None:
        # Replicas of the last valid command line keep serving; the new one is never rolled out.
        degraded = Verdict("True", Reason.INVALID_SERVING_ARGS, serving_args_error)
    elif child_error is not None:  # the replicas of the last accepted spec keep serving
        degraded = Verdict("True", Reason.CHILD_REJECTED, child_error)
    progressing = _progressing(wanted, ready_count, ready, observed.deployment)
    job = observed.job
    if job is not None and not job.succeeded and not job.failed and ready_count > 0:
        progressing = Verdict(
            "True",
            Reason.DOWNLOADING_WEIGHTS,
            "copying the new source into the weights volume; the replicas keep serving the "
            "previous one and roll out after it",
        )
    elif job is not None and not job.succeeded and not job.failed and _earlier_source(observed):
        progressing = Verdict(
            "True",
            Reason.DOWNLOADING_WEIGHTS,
            "copying the new source into the weights volume; the Deployment keeps the previous "
            "one meanwhile and rolls out after it",
        )
    return {
        ConditionType.READY: ready,
        ConditionType.PROGRESSING: progressing,
        ConditionType.DEGRADED: degraded,
    }
