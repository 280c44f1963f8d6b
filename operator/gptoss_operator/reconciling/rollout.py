"""Rollout decisions (pure): whether a template change surges, and which image a CR keeps.

Surge (``spec.rollout.surge``): ``Always`` and ``Never`` are what they say. ``Auto`` surges when
a node of the product has a free GPU set for one more replica. The choice is taken when a
settled Deployment's pod template is about to change (the free GPUs are counted then, never in
a steady state, which costs no reads and no strategy flapping) and kept while it rolls out
(the surge replica itself takes the free GPUs, so counting again mid-rollout would always say
no), except that a surge replica the scheduler cannot place turns the rollout into
stop-one-first, so it never waits for a GPU that went elsewhere.

Image: without ``spec.serving.image`` a CR keeps the image its live Deployment runs, so an
operator upgrade that changes the default image restarts nothing. The CR moves to the operator's
default when it is annotated ``gptoss.dev/image-policy: FollowOperator``, when its GPU vendor
changes (the other vendor's image cannot run), or when ``spec.serving.image`` is removed: the
Deployment records where its image came from (``gptoss.dev/image-source``: ``Spec`` or
``Operator``), and an image the spec no longer names is not kept. A Deployment of an operator
that did not record it keeps its image, as before.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec

__all__ = [
    "FOLLOW_OPERATOR",
    "IMAGE_POLICY_ANNOTATION",
    "IMAGE_SOURCE_ANNOTATION",
    "image_source",
    "kept_image",
    "rolling_out",
    "surges",
]

IMAGE_POLICY_ANNOTATION = "gptoss.dev/image-policy"
FOLLOW_OPERATOR = "FollowOperator"
IMAGE_SOURCE_ANNOTATION = "gptoss.dev/image-source"  # on the Deployment: Spec or Operator
FROM_SPEC = "Spec"
FROM_OPERATOR = "Operator"


def rolling_out(live: dict[str, Any] | None) -> bool:
    """Whether the live Deployment has not yet caught up with its own spec."""
    if live is None:
        return False
    spec, status = live.get("spec", {}), live.get("status", {})
    wanted = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration", 0)) < int(live["metadata"].get("generation", 0))
        or int(status.get("updatedReplicas", 0)) < wanted
        or int(status.get("replicas", 0)) > wanted
    )


def live_surges(live: dict[str, Any] | None) -> bool:
    """Whether the live Deployment's strategy surges (False without one)."""
    if live is None:
        return False
    strategy = live.get("spec", {}).get("strategy", {}).get("rollingUpdate", {}) or {}
    return str(strategy.get("maxSurge", 0)) not in ("0", "0%")


def surges(
    spec: GptOssDeploymentSpec,
    live: dict[str, Any] | None,
    *,
    room: bool,
    unschedulable: bool,
) -> bool:
    """Whether the Deployment rolls out by starting one extra replica first.

    ``room``: a node of the product has the GPUs for one more replica now; ``unschedulable``:
    one of the CR's pods waits for a node.
    """
    policy = spec.rollout.surge if spec.rollout else "Auto"
    if policy != "Auto":
        return policy == "Always"
    if live is not None and rolling_out(live):
        return live_surges(live) and not unschedulable
    return room


def _container_image(live: dict[str, Any] | None) -> tuple[str | None, set[str]]:
    if live is None:
        return None, set()
    pod = live.get("spec", {}).get("template", {}).get("spec", {})
    image = next(
        (c.get("image") for c in pod.get("containers", []) if c.get("name") == "vllm"), None
    )
    return image, set(pod.get("nodeSelector", {}) or {})


def kept_image(
    spec: GptOssDeploymentSpec,
    annotations: dict[str, str],
    live: dict[str, Any] | None,
    *,
    default: str,
    label_key: str,
) -> str:
    """The image the replicas run: the spec's, else the live one's (same vendor, and not one
    the spec named before), else the operator's ``default``. ``annotations``: the CR's;
    ``label_key``: the product label of the spec's GPU vendor."""
    if spec.serving.image:
        return spec.serving.image
    if annotations.get(IMAGE_POLICY_ANNOTATION) == FOLLOW_OPERATOR:
        return default
    if _annotations(live).get(IMAGE_SOURCE_ANNOTATION) == FROM_SPEC:
        return default  # spec.serving.image was removed
    image, selector = _container_image(live)
    if image and label_key in selector:
        return image
    return default


def image_source(spec: GptOssDeploymentSpec) -> dict[str, str]:
    """The Deployment's annotation that says where the image of its pod template came from."""
    return {IMAGE_SOURCE_ANNOTATION: FROM_SPEC if spec.serving.image else FROM_OPERATOR}


def _annotations(live: dict[str, Any] | None) -> dict[str, str]:
    if live is None:
        return {}
    return dict(live.get("metadata", {}).get("annotations") or {})
