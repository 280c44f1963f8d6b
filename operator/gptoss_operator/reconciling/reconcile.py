"""One level-based, idempotent reconcile of a GptOssDeployment: parse -> size -> build -> apply ->
observe -> compute status -> write it if it changed. Every trigger (create, update, resume, the
resync timer, a child's change) runs this same function; there is no separate create path.

Deciding is pure (``planning.plan``, ``status``, ``outcome``); this module reads what is there,
writes the children and the status through ``kube``, and reports the ``outcome``.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from gptoss_operator import names
from gptoss_operator.api.redaction import redacted
from gptoss_operator.children.deployment import build_deployment, rolling_update
from gptoss_operator.children.fence import build_fence
from gptoss_operator.children.network import build_pdb, build_service
from gptoss_operator.children.storage import build_download_job, build_weights_claim
from gptoss_operator.errors import KubeError, KubeRejected
from gptoss_operator.kube.client import Kube
from gptoss_operator.placement.adapters import served_model_name
from gptoss_operator.placement.name_claims import claimed_names, name_taken
from gptoss_operator.reconciling.applying import (
    apply_deployment,
    create_once,
    ensure,
    ensure_inference_pool,
)
from gptoss_operator.reconciling.cluster_reads import (
    gpu_nodes,
    node_limit,
    pending_volume_failures,
    room_for_one_more,
)
from gptoss_operator.reconciling.observe import (
    WEIGHTS_READY,
    Observed,
    view_deployment,
    view_job,
    view_pod,
    weights_ready,
)
from gptoss_operator.reconciling.outcome import Outcome, events, status_patch
from gptoss_operator.reconciling.planning import (
    Plan,
    parse_spec,
    plan,
    pod_extras,
    replicas_wanted,
    vllm_clients,
)
from gptoss_operator.reconciling.reasons import Reason
from gptoss_operator.reconciling.rollout import image_source, live_surges, rolling_out, surges
from gptoss_operator.reconciling.status import PoolState, compute_status, to_wire
from gptoss_operator.reconciling.upgrades import annotate, spec_hash, template_changes
from gptoss_operator.settings import OperatorSettings

__all__ = ["names_checked", "reconcile"]


def names_checked(
    kube: Kube, body: dict[str, Any], decided: Plan, namespaces: tuple[str, ...] = ()
) -> Plan:
    """``decided``, refused with ServedNameTaken when another CR serves one of its names
    already. The other CRs are those of ``namespaces``, the operator's (empty: every
    namespace): a namespaced install may list GptOssDeployments only there, and the CRs of
    other namespaces are no operator's of this install. Unchecked when even that list fails
    (the router then serves the name from the older CR and logs the other)."""
    if decided.sizing_error is not None or not claimed_names(decided.owner.name, decided.spec):
        return decided
    others: list[dict[str, Any]] = []
    try:
        for scope in namespaces or (None,):
            others += kube.list(names.API_VERSION, names.KIND, scope)
    except KubeError:
        return decided
    taken = name_taken(body, decided.spec, others)
    if taken is None:
        return decided
    # No sizing: nothing is built for it, as for a spec that does not fit.
    return replace(decided, sizing=None, sizing_error=taken, sizing_reason=Reason.SERVED_NAME_TAKEN)


def reconcile(
    body: dict[str, Any],
    kube: Kube,
    settings: OperatorSettings,
    *,
    now: dt.datetime,
    upgrade_gate: AbstractContextManager[Any] | None = None,
    namespaces: tuple[str, ...] = (),
) -> Outcome:
    """Bring the children of ``body`` in line with its spec and report what is there.

    ``upgrade_gate`` serialises, across the CRs one process reconciles at once, counting the
    rollouts in progress with starting one an operator upgrade asks for (``upgrades``);
    ``namespaces``: those the operator watches (empty: all), where other CRs' names are read."""
    parsed = parse_spec(body)
    meta = body["metadata"]
    name = names.deployment_name(meta["name"])
    live = kube.get("apps/v1", "Deployment", meta["namespace"], name)
    nodes = gpu_nodes(kube, parsed)
    decided = names_checked(
        kube, body, plan(body, settings, node_limit(nodes, parsed), live), namespaces
    )
    owner, spec = decided.owner, decided.spec
    wanted = replicas_wanted(spec)
    pods = kube.list("v1", "Pod", owner.namespace, labels=names.selector(owner.name))
    job_body: dict[str, Any] | None = None
    pool: PoolState | None = None

    child_error: str | None = None
    deployment: dict[str, Any] | None = live
    if (
        decided.sizing is not None
        and decided.weights is not None
        and not decided.serving_args_error
    ):
        try:
            deployment, job_body, pool = _apply_children(
                kube, decided, settings, live, nodes, pods, upgrade_gate
            )
        except KubeRejected as exc:  # a value the CRD admits and the API server does not
            # The API server's answer quotes the values it refused, a credential among them.
            child_error = redacted(
                f"the API server refused what this spec builds ({exc}); change the spec: "
                "the replicas of the spec last applied, if any, keep serving"
            )
    volumes = pending_volume_failures(kube, owner.namespace, pods)
    observed = Observed(
        deployment=view_deployment(deployment) if deployment else None,
        pods=tuple(view_pod(p, volumes.get(p["metadata"]["name"])) for p in pods),
        job=view_job(job_body) if job_body else None,
    )
    previous = body.get("status") or {}
    status = to_wire(
        compute_status(
            cr_name=owner.name,
            namespace=owner.namespace,
            generation=int(body["metadata"].get("generation", 0)),
            wanted=wanted,
            sizing=decided.sizing,
            sizing_error=decided.sizing_error,
            observed=observed,
            previous=previous,
            now=now,
            spills=bool(spec.spillover and spec.spillover.providers),
            served_model_name=served_model_name(owner.name, spec),
            adapters=[adapter.name for adapter in spec.adapters or []],
            serving_args_error=decided.serving_args_error,
            sizing_reason=decided.sizing_reason,
            child_error=child_error,
            image=decided.image if decided.sizing is not None else None,
            available_image=(
                decided.default_image if decided.image != decided.default_image else None
            ),
            inference_pool=pool,
            autoscaled=spec.autoscaling is not None,
        )
    )
    patch = status_patch(previous, status, autoscaled=spec.autoscaling is not None)
    if patch is not None:
        kube.patch_status(  # onto the CR as read (runner.py: another writer may have written)
            names.API_VERSION,
            names.KIND,
            owner.namespace,
            owner.name,
            patch,
            resource_version=body["metadata"].get("resourceVersion"),
        )
    return Outcome(status=status, status_written=patch is not None, events=events(previous, status))


def _apply_children(
    kube: Kube,
    decided: Plan,
    settings: OperatorSettings,
    live: dict[str, Any] | None,
    nodes: list[dict[str, Any]] | None,
    pods: list[dict[str, Any]],
    upgrade_gate: AbstractContextManager[Any] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None, PoolState | None]:
    """Apply the children of a spec that was sized and planned: the weights' claim and
    download Job, the Deployment, its Service, PodDisruptionBudget, fence and InferencePool.
    The Deployment as applied, the download Job and the pool's state."""
    sizing, weights = decided.sizing, decided.weights
    if sizing is None or weights is None:
        raise ValueError("children are built only for a sized and planned spec")
    owner, spec = decided.owner, decided.spec
    wanted = replicas_wanted(spec)
    job_body: dict[str, Any] | None = None
    if weights.claim_name is not None and spec.cache and spec.cache.pvc:
        create_once(kube, build_weights_claim(owner, spec.model, spec.cache.pvc))
    if weights.download is not None:
        claim = (
            weights.claim_name
            or (spec.cache.pvc.name if spec.cache and spec.cache.pvc else None)
            or names.weights_claim_name(owner.name)
        )
        job_name = names.download_job_name(owner.name, weights.download.digest(claim))
        job_body = kube.get("batch/v1", "Job", owner.namespace, job_name)
        if job_body is None:  # one Job per source; a Job's template is immutable
            account = spec.pod.service_account_name if spec.pod else None
            job_body = kube.apply(
                build_download_job(
                    owner, spec.model, weights.download, claim, service_account_name=account
                )
            )
    job_done = job_body is None or view_job(job_body).succeeded
    # While a new source downloads, the live template (an earlier source's) is kept: its
    # replicas serve as many as wanted. Only before any source is there are there none.
    ready = job_done or weights_ready(live)
    desired = annotate(
        build_deployment(
            owner,
            spec,
            sizing,
            weights,
            replicas=wanted if ready else 0,
            image=decided.image,
            extras=pod_extras(spec),
            startup_timeout_seconds=settings.startup_timeout_seconds,
            shm_size=settings.shm_size,
        ),
        spec_digest=spec_hash(spec, decided.image),
        more={**image_source(spec), WEIGHTS_READY: "true" if ready else "false"},
    )
    # Free GPUs matter only when pods are about to be replaced; otherwise keep the strategy.
    starts = live is not None and not rolling_out(live) and template_changes(live, desired)
    room = (
        room_for_one_more(kube, nodes, spec, sizing.tensor_parallel_size)
        if starts
        else live_surges(live)
    )
    unschedulable = any(view_pod(p).unschedulable for p in pods)
    desired["spec"]["strategy"]["rollingUpdate"] = rolling_update(
        surges(spec, live, room=room, unschedulable=unschedulable)
    )
    deployment = apply_deployment(
        kube,
        live,
        desired,
        job_done=job_done,
        budget=settings.upgrade_budget,
        gate=upgrade_gate,
    )
    ensure(kube, build_service(owner, spec.model))
    ensure(kube, build_pdb(owner, spec.model))
    fence = None
    if (clients := vllm_clients(settings)) is not None:
        fence = ensure(kube, build_fence(owner, spec.model, clients))["metadata"]["name"]
    pool = ensure_inference_pool(kube, owner, spec)
    if pool is not None and pool.name is not None:
        pool = replace(pool, fence=fence)
    return deployment, job_body, pool
