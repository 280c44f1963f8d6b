"""Operator upgrades roll GPU Deployments through a budget (pure decisions).

A new operator version may build a different pod template for an unchanged CR (a new probe, a
recipe flag, a preStop hook). Applied at once, that restarts every GPU Deployment in the
cluster together, and every model cold-starts at the same time. So a template change the CR
did not ask for waits until fewer than ``budget`` gptoss Deployments are rolling out
(``GPTOSS_OPERATOR_UPGRADE_BUDGET``, 1 unless set); one the CR asked for (any change of its
spec other than replicas, autoscaling and spillover, or of its image) rolls at once.

Each Deployment carries two annotations: the hash of the pod template the operator built
(``TEMPLATE_HASH``) and the hash of what the CR asked for (``SPEC_HASH``). A template change
whose spec hash is unchanged is the operator's own. A Deployment from an operator version
without these annotations counts as unchanged-spec, so upgrading to this version is budgeted too.
A Deployment scaled to zero has nothing to restart and is never held back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.reconciling.rollout import IMAGE_SOURCE_ANNOTATION

__all__ = [
    "SPEC_HASH",
    "TEMPLATE_HASH",
    "annotate",
    "operator_caused",
    "spec_hash",
    "template_changes",
    "template_hash",
    "with_live_template",
]

TEMPLATE_HASH = "gptoss.dev/template-hash"
SPEC_HASH = "gptoss.dev/spec-hash"
_NOT_TEMPLATE = {"replicas", "autoscaling", "spillover", "inference_pool"}
# The annotations that describe the pod template, so they stay with it when it waits.
_OF_TEMPLATE = (TEMPLATE_HASH, SPEC_HASH, IMAGE_SOURCE_ANNOTATION)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def spec_hash(spec: GptOssDeploymentSpec, image: str) -> str:
    """What the CR asks of its pods: its spec without the fields that never touch them."""
    return _digest([spec.model_dump(exclude=_NOT_TEMPLATE, exclude_none=True), image])


def template_hash(deployment: dict[str, Any]) -> str:
    return _digest(deployment["spec"]["template"])


def annotate(
    deployment: dict[str, Any], *, spec_digest: str, more: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``deployment`` with its template and spec hashes as annotations, and ``more`` of them."""
    meta = deployment["metadata"]
    annotations = {
        **meta.get("annotations", {}),
        **(more or {}),
        TEMPLATE_HASH: template_hash(deployment),
        SPEC_HASH: spec_digest,
    }
    return {**deployment, "metadata": {**meta, "annotations": annotations}}


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("annotations") or {})


def operator_caused(live: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Whether applying ``desired`` (annotated) would restart ``live``'s pods although the CR
    asked for nothing new."""
    if live is None or int(live.get("spec", {}).get("replicas", 0)) == 0:
        return False
    before, after = _annotations(live), _annotations(desired)
    if before.get(TEMPLATE_HASH) == after[TEMPLATE_HASH]:
        return False
    return before.get(SPEC_HASH, after[SPEC_HASH]) == after[SPEC_HASH]


def template_changes(live: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether applying ``desired`` (annotated) would replace ``live``'s pods."""
    return bool(_annotations(live).get(TEMPLATE_HASH) != _annotations(desired)[TEMPLATE_HASH])


def with_live_template(live: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """``desired`` keeping ``live``'s pod template, its hashes and where its image came from
    (the change waits). A Deployment of an older operator has no hashes and is given none:
    written empty, they would make the waiting change look asked for by the CR at the next
    reconcile."""
    spec = {**desired["spec"], "template": live["spec"]["template"]}
    meta = desired["metadata"]
    kept = _annotations(live)
    annotations = {k: v for k, v in meta.get("annotations", {}).items() if k not in _OF_TEMPLATE}
    annotations.update({k: kept[k] for k in _OF_TEMPLATE if k in kept})
    return {**desired, "spec": spec, "metadata": {**meta, "annotations": annotations}}
