"""Applying a child only when it would change (``ensure``) or only once (``create_once``), the
vLLM Deployment within the operator-upgrade budget (``upgrades``), and the optional children
that depend on what the cluster serves (the InferencePool)."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import Owner
from gptoss_operator.children.inference_pool import build_inference_pool
from gptoss_operator.errors import KubeRejected
from gptoss_operator.kube.client import FIELD_MANAGER, Kube
from gptoss_operator.reconciling.cluster_reads import rolling_elsewhere
from gptoss_operator.reconciling.drift import needs_apply, stamp
from gptoss_operator.reconciling.status import PoolState
from gptoss_operator.reconciling.upgrades import operator_caused, with_live_template

__all__ = ["apply_deployment", "create_once", "ensure", "ensure_inference_pool"]


def ensure(kube: Kube, desired: dict[str, Any]) -> dict[str, Any]:
    """Apply ``desired`` only if that would change something the operator owns; the live
    object either way."""
    stamped = stamp(desired)
    meta = desired["metadata"]
    live = kube.get(desired["apiVersion"], desired["kind"], meta.get("namespace"), meta["name"])
    if needs_apply(live, stamped, FIELD_MANAGER):
        return kube.apply(stamped)
    assert live is not None
    return live


def create_once(kube: Kube, desired: dict[str, Any]) -> dict[str, Any]:
    """Create ``desired`` if it does not exist; the live object, untouched, if it does. For a
    child whose spec Kubernetes fixes once it is created (a PersistentVolumeClaim's access
    modes, class and, but for growing, size): applied again with another spec it would be
    refused, and the refusal would stop every child after it."""
    meta = desired["metadata"]
    live = kube.get(desired["apiVersion"], desired["kind"], meta.get("namespace"), meta["name"])
    if live is None:
        return kube.apply(stamp(desired))
    return dict(live)


def ensure_inference_pool(kube: Kube, owner: Owner, spec: GptOssDeploymentSpec) -> PoolState | None:
    """The CR's InferencePool, applied when asked for and its CRD is served; None when not asked
    for, a state without a name when the Gateway API Inference Extension is not installed."""
    settings = spec.inference_pool
    if settings is None or not settings.enabled:
        return None
    try:
        applied = ensure(kube, build_inference_pool(owner, spec.model, settings))
    except KubeRejected as exc:
        if exc.status != 404:  # 404: the InferencePool CRD is not installed
            raise
        return PoolState(None)
    return PoolState(str(applied["metadata"]["name"]))


def apply_deployment(
    kube: Kube,
    live: dict[str, Any] | None,
    desired: dict[str, Any],
    *,
    job_done: bool,
    budget: int,
    gate: AbstractContextManager[Any] | None,
) -> dict[str, Any]:
    """The Deployment after applying ``desired``: its pod template waits while a new source
    downloads (``job_done`` false) or while other models restart (``budget``); its replicas
    never wait (``desired`` has none only while no source was ever downloaded)."""
    if live is not None and not job_done:
        # While a new source downloads, replicas of the previous one keep serving it; the
        # number the CR asks for (a scale to zero, the autoscaler's) is applied all the same.
        return ensure(kube, with_live_template(live, desired))
    if live is not None and operator_caused(live, desired):
        with gate or contextlib.nullcontext():
            namespace = desired["metadata"]["namespace"]
            if rolling_elsewhere(kube, namespace) >= budget:
                desired = with_live_template(live, desired)  # the restart waits its turn
            return ensure(kube, desired)
    return ensure(kube, desired)
