"""What the reconciler reads about the cluster beyond a CR's own children: the nodes of its GPU
product and the GPUs free on them (read-only; the decisions are pure, in ``placement.nodes``
and ``reconciling.rollout``).

Both reads degrade to "unknown" when the operator's role does not allow them (an older chart,
or a namespaced install, which may not list pods of other namespaces): sizing is then not
limited by node size, and a rollout does not surge.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import KubeRejected
from gptoss_operator.kube.client import Kube
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.nodes import free_gpus, largest_node, pinning_selector
from gptoss_operator.placement.sizing import NodeLimit
from gptoss_operator.reconciling.observe import volume_failures
from gptoss_operator.reconciling.rollout import rolling_out

__all__ = [
    "gpu_nodes",
    "node_limit",
    "pending_volume_failures",
    "rolling_elsewhere",
    "room_for_one_more",
]

_VLLM_DEPLOYMENTS = "app.kubernetes.io/name=gptoss,app.kubernetes.io/component=vllm"


def gpu_nodes(kube: Kube, spec: GptOssDeploymentSpec) -> list[dict[str, Any]] | None:
    """The nodes the replicas could land on (the pods' node selector); None if forbidden."""
    product = product_named(spec.gpu.product)
    pinned = {product.label_key: product.label_value, **(spec.gpu.node_selector or {})}
    try:
        return kube.list("v1", "Node", None, labels=pinning_selector(pinned))
    except KubeRejected as exc:
        if exc.status != 403:
            raise
        return None


def resource_of(spec: GptOssDeploymentSpec) -> str:
    return spec.gpu.resource_name or product_named(spec.gpu.product).resource_name


def node_limit(nodes: list[dict[str, Any]] | None, spec: GptOssDeploymentSpec) -> NodeLimit | None:
    """The largest of ``nodes`` (None when unknown or there are none)."""
    return largest_node(nodes, resource_of(spec)) if nodes else None


def room_for_one_more(
    kube: Kube, nodes: list[dict[str, Any]] | None, spec: GptOssDeploymentSpec, gpus: int
) -> bool:
    """Whether some node of the product has ``gpus`` free for one extra replica right now."""
    resource = resource_of(spec)
    for node in nodes or []:
        name = node["metadata"]["name"]
        try:
            pods = kube.list("v1", "Pod", None, fields=f"spec.nodeName={name}")
        except KubeRejected as exc:
            if exc.status != 403:
                raise
            return False
        if free_gpus(node, pods, resource) >= gpus:
            return True
    return False


def pending_volume_failures(
    kube: Kube, namespace: str, pods: list[dict[str, Any]]
) -> dict[str, str]:
    """Volume Events of the pods still ``Pending`` (the only place the kubelet and the
    attach/detach controller say why a volume is missing); no request when none is."""
    if not any(p.get("status", {}).get("phase", "Pending") == "Pending" for p in pods):
        return {}
    events = kube.list("v1", "Event", namespace, fields="involvedObject.kind=Pod,type=Warning")
    return volume_failures(events)


def rolling_elsewhere(kube: Kube, namespace: str) -> int:
    """How many gptoss vLLM Deployments are rolling out: in the cluster, or in ``namespace``
    when the operator may not list Deployments cluster-wide (a namespaced install)."""
    try:
        found = kube.list("apps/v1", "Deployment", None, labels=_VLLM_DEPLOYMENTS)
    except KubeRejected as exc:
        if exc.status != 403:
            raise
        found = kube.list("apps/v1", "Deployment", namespace, labels=_VLLM_DEPLOYMENTS)
    return sum(1 for d in found if rolling_out(d))
