"""What the operator observed of a GptOssDeployment's children, as small immutable views (pure:
built from the API's plain dicts, no I/O).

Where Kubernetes explains each way a replica fails to come up (docs/sources.md, Status):

* The scheduler, on the pod: condition ``PodScheduled=False``, reason ``Unschedulable`` (the
  same text as its ``FailedScheduling`` event).
* The kubelet, on the pod: ``containerStatuses[].state.waiting`` (``ImagePullBackOff``,
  ``CrashLoopBackOff``, ``CreateContainerConfigError`` for a missing Secret or ConfigMap key)
  and ``initContainerStatuses[]`` for init containers that wait or exited non-zero.
* The kubelet and the attach/detach controller, in Events only: ``FailedMount`` (a missing
  Secret, ConfigMap or claim) and ``FailedAttachVolume`` (``Multi-Attach error``) on the pod,
  while it stays ``Pending``.
* The ReplicaSet controller, when it cannot create a pod at all (resource quota, Pod Security
  admission, a missing ServiceAccount or PriorityClass): its ``FailedCreate`` becomes the
  ``ReplicaFailure`` condition of the ReplicaSet, which the Deployment controller copies onto
  the Deployment with the API server's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_operator.api.redaction import redacted
from gptoss_operator.placement.adapters import ADAPTERS_ANNOTATION, LOADED_ANNOTATION

__all__ = [
    "MOUNT_EVENT_REASONS",
    "WEIGHTS_READY",
    "DeploymentView",
    "JobView",
    "Observed",
    "PodView",
    "view_deployment",
    "view_job",
    "view_pod",
    "volume_failures",
    "weights_ready",
]

MOUNT_EVENT_REASONS = frozenset({"FailedMount", "FailedAttachVolume"})
# On the Deployment: "true" once the source its pod template loads has been downloaded (or
# needs no download), "false" while its replicas wait for it.
WEIGHTS_READY = "gptoss.dev/weights-ready"


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    ready: bool
    started: bool  # the startup probe has passed (weights loaded, engine answering)
    unschedulable: str | None  # the scheduler's message, while the pod cannot be placed
    waiting_reason: str | None  # e.g. ImagePullBackOff, CrashLoopBackOff
    waiting_message: str | None
    restarts: int
    terminating: bool
    init_failure: str | None = None  # "<container>: <reason>: <message>" of a failing init
    last_exit: str | None = None  # "exit code N: <last line of its termination message>"
    volume_failure: str | None = None  # the latest FailedMount/FailedAttachVolume message
    # The LoRA adapters its vLLM loads: as read from its /v1/models (``gptoss.dev/loaded-adapters``,
    # written by ``gptoss_operator.loading``), else as its template says (``gptoss.dev/adapters``).
    adapters: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeploymentView:
    generation: int
    observed_generation: int
    replicas: int
    ready_replicas: int
    updated_replicas: int
    progress_deadline_exceeded: bool
    replica_failure: str | None = None  # ReplicaFailure=True: why pods cannot be created
    # The source its pod template loads is on the weights volume (``WEIGHTS_READY``): while a
    # new one downloads, that template keeps serving.
    weights_ready: bool = False


@dataclass(frozen=True)
class JobView:
    active: int
    succeeded: bool
    failed: bool
    message: str | None
    name: str = ""


@dataclass(frozen=True)
class Observed:
    deployment: DeploymentView | None
    pods: tuple[PodView, ...]
    job: JobView | None


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in obj.get("status", {}).get("conditions", []) or []}


def _init_failure(status: dict[str, Any]) -> str | None:
    """The first init container that waits on an error or exited non-zero, in words."""
    for init in status.get("initContainerStatuses", []) or []:
        state = init.get("state", {})
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        last = (init.get("lastState") or {}).get("terminated") or {}
        name = init.get("name", "init")
        if waiting.get("reason") not in (None, "PodInitializing", "ContainerCreating"):
            why = f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
            if last.get("exitCode"):
                why += f" (last exit code {last['exitCode']}: {last.get('reason', 'Error')})"
            return f"init container {name}: {why}"
        if int(terminated.get("exitCode", 0) or 0) != 0:
            return (
                f"init container {name} exited with code {terminated['exitCode']}: "
                f"{terminated.get('reason', 'Error')} {terminated.get('message') or ''}".rstrip()
            )
    return None


def _last_exit(containers: list[dict[str, Any]]) -> str | None:
    """How the container last ended on an error: its exit code and the last line of its
    termination message (with ``FallbackToLogsOnError``, the tail of its log: vLLM's error),
    credentials in it redacted (``api.redaction``)."""
    for container in containers:
        last = (container.get("lastState") or {}).get("terminated") or {}
        code = int(last.get("exitCode", 0) or 0)
        if code == 0:
            continue
        lines = [line.strip() for line in str(last.get("message") or "").splitlines()]
        said = redacted(next((line for line in reversed(lines) if line), ""))
        if len(said) > 600:
            said = said[:597] + "..."
        return f"exit code {code}: {said}" if said else f"exit code {code}"
    return None


def volume_failures(events: list[dict[str, Any]]) -> dict[str, str]:
    """Pod name -> the message of its latest volume Event (``MOUNT_EVENT_REASONS``)."""
    latest: dict[str, tuple[str, str]] = {}
    for event in events:
        involved = event.get("involvedObject", {})
        if involved.get("kind") != "Pod" or event.get("reason") not in MOUNT_EVENT_REASONS:
            continue
        when = str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("metadata", {}).get("creationTimestamp")
            or ""
        )
        name = str(involved.get("name", ""))
        if name not in latest or when >= latest[name][0]:
            latest[name] = (when, f"{event['reason']}: {event.get('message', '')}")
    return {name: message for name, (_, message) in latest.items()}


def view_pod(pod: dict[str, Any], volume_failure: str | None = None) -> PodView:
    status = pod.get("status", {})
    conditions = _conditions(pod)
    scheduled = conditions.get("PodScheduled", {})
    unschedulable = (
        str(scheduled.get("message", "no node fits the pod"))
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
        else None
    )
    containers = status.get("containerStatuses", []) or []
    waiting: dict[str, Any] = next(
        (c["state"]["waiting"] for c in containers if "waiting" in c.get("state", {})), {}
    )
    return PodView(
        name=pod["metadata"]["name"],
        phase=str(status.get("phase", "Pending")),
        ready=conditions.get("Ready", {}).get("status") == "True",
        started=bool(containers) and all(c.get("started", False) for c in containers),
        unschedulable=unschedulable,
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        restarts=sum(int(c.get("restartCount", 0)) for c in containers),
        terminating=bool(pod["metadata"].get("deletionTimestamp")),
        init_failure=_init_failure(status),
        last_exit=_last_exit(containers),
        volume_failure=volume_failure if status.get("phase", "Pending") == "Pending" else None,
        adapters=_adapters(pod["metadata"].get("annotations") or {}),
    )


def _adapters(annotations: dict[str, Any]) -> tuple[str, ...]:
    text = annotations.get(LOADED_ANNOTATION, annotations.get(ADAPTERS_ANNOTATION, ""))
    return tuple(name.strip() for name in str(text).split(",") if name.strip())


def view_deployment(deployment: dict[str, Any]) -> DeploymentView:
    status = deployment.get("status", {})
    conditions = _conditions(deployment)
    progressing = conditions.get("Progressing", {})
    failure = conditions.get("ReplicaFailure", {})
    return DeploymentView(
        generation=int(deployment["metadata"].get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(status.get("replicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        progress_deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        replica_failure=(
            str(failure.get("message") or failure.get("reason") or "FailedCreate")
            if failure.get("status") == "True"
            else None
        ),
        weights_ready=weights_ready(deployment),
    )


def weights_ready(deployment: dict[str, Any] | None) -> bool:
    """Whether the source ``deployment``'s pod template loads is on the weights volume. One of
    an operator that did not say so (``WEIGHTS_READY``) scaled it up only then: it has replicas."""
    if deployment is None:
        return False
    said = (deployment.get("metadata", {}).get("annotations") or {}).get(WEIGHTS_READY)
    if said is not None:
        return bool(said == "true")
    return int(deployment.get("spec", {}).get("replicas", 0) or 0) > 0


def view_job(job: dict[str, Any]) -> JobView:
    status = job.get("status", {})
    conditions = _conditions(job)
    failed = conditions.get("Failed", {})
    return JobView(
        active=int(status.get("active", 0)),
        succeeded=conditions.get("Complete", {}).get("status") == "True",
        failed=failed.get("status") == "True",
        message=failed.get("message"),
        name=str(job.get("metadata", {}).get("name", "")),
    )
