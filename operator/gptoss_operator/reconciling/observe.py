"""What the operator observed of a GptOssDeployment's children, as small immutable views (pure:
built from the API's plain dicts, no I/O).

The scheduler explains an unschedulable pod on the pod itself (condition ``PodScheduled=False``,
reason ``Unschedulable``, the same text as its ``FailedScheduling`` event); the kubelet explains
a stuck container in ``containerStatuses[].state.waiting``. Both are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DeploymentView",
    "JobView",
    "Observed",
    "PodView",
    "view_deployment",
    "view_job",
    "view_pod",
]


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


@dataclass(frozen=True)
class DeploymentView:
    generation: int
    observed_generation: int
    replicas: int
    ready_replicas: int
    updated_replicas: int
    progress_deadline_exceeded: bool


@dataclass(frozen=True)
class JobView:
    active: int
    succeeded: bool
    failed: bool
    message: str | None


@dataclass(frozen=True)
class Observed:
    deployment: DeploymentView | None
    pods: tuple[PodView, ...]
    job: JobView | None


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in obj.get("status", {}).get("conditions", []) or []}


def view_pod(pod: dict[str, Any]) -> PodView:
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
    )


def view_deployment(deployment: dict[str, Any]) -> DeploymentView:
    status = deployment.get("status", {})
    progressing = _conditions(deployment).get("Progressing", {})
    return DeploymentView(
        generation=int(deployment["metadata"].get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(status.get("replicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        progress_deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
    )


def view_job(job: dict[str, Any]) -> JobView:
    status = job.get("status", {})
    conditions = _conditions(job)
    failed = conditions.get("Failed", {})
    return JobView(
        active=int(status.get("active", 0)),
        succeeded=conditions.get("Complete", {}).get("status") == "True",
        failed=failed.get("status") == "True",
        message=failed.get("message"),
    )
