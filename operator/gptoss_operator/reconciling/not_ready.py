"""Why no replica serves yet, most specific first (pure): the ``Ready=False`` verdicts that
come from the pods and the Deployment (see ``status`` for the order and where each is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gptoss_operator.reconciling.observe import Observed, PodView
from gptoss_operator.reconciling.reasons import Reason

__all__ = ["CONFIG_ERRORS", "IMAGE_PULL", "Verdict", "why_not_ready"]

IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError"}


@dataclass(frozen=True)
class Verdict:
    """One condition's value before timestamps."""

    status: Literal["True", "False"]
    reason: Reason
    message: str


def _first(pods: tuple[PodView, ...], reasons: set[str]) -> PodView | None:
    return next((p for p in pods if p.waiting_reason in reasons), None)


def why_not_ready(observed: Observed, wanted: int) -> Verdict:
    pods = tuple(p for p in observed.pods if not p.terminating)
    failure = observed.deployment.replica_failure if observed.deployment else None
    if failure is not None:
        return Verdict(
            "False",
            Reason.POD_CREATION_FAILED,
            f"{len(pods)} of {wanted} replicas exist; creating a pod failed: {failure}",
        )
    if (pending := next((p for p in pods if p.unschedulable), None)) is not None:
        return Verdict(
            "False",
            Reason.WAITING_FOR_GPU_NODE,
            f"pod {pending.name} cannot be scheduled: {pending.unschedulable}",
        )
    if (mounting := next((p for p in pods if p.volume_failure), None)) is not None:
        return Verdict(
            "False",
            Reason.VOLUME_MOUNT_FAILED,
            f"pod {mounting.name} cannot start: {mounting.volume_failure}",
        )
    if (initing := next((p for p in pods if p.init_failure), None)) is not None:
        return Verdict(
            "False", Reason.INIT_CONTAINER_FAILED, f"pod {initing.name}: {initing.init_failure}"
        )
    if (configuring := _first(pods, CONFIG_ERRORS)) is not None:
        return Verdict(
            "False",
            Reason.CONTAINER_CONFIG_INVALID,
            f"pod {configuring.name}: {configuring.waiting_reason}: {configuring.waiting_message}",
        )
    if (pulling := _first(pods, IMAGE_PULL)) is not None:
        return Verdict(
            "False",
            Reason.IMAGE_PULL_FAILING,
            f"pod {pulling.name}: {pulling.waiting_reason}: {pulling.waiting_message}",
        )
    if (crashing := _first(pods, {"CrashLoopBackOff"})) is not None:
        return Verdict(
            "False",
            Reason.CRASH_LOOPING,
            f"pod {crashing.name} restarted {crashing.restarts} times; "
            + (
                f"its last {crashing.last_exit}"
                if crashing.last_exit
                else f"{crashing.waiting_message or 'see kubectl logs'}"
            ),
        )
    running = [p for p in pods if p.phase == "Running"]
    if any(not p.started for p in running):
        return Verdict(
            "False",
            Reason.LOADING_WEIGHTS,
            f"{len(running)} of {wanted} replicas started; vLLM is loading weights "
            "(the startup probe passes once /health answers)",
        )
    # Ready replicas are not the answer: only started ones that fail their readiness probe are.
    if failing := [p for p in running if not p.ready]:
        return Verdict(
            "False",
            Reason.ENGINE_NOT_READY,
            f"{len(failing)} of {wanted} replicas started but fail their readiness probe",
        )
    return Verdict("False", Reason.CREATING_PODS, f"waiting for {wanted} replicas to be created")
