"""The largest node of a GPU product, from the cluster's Node objects (pure).

A node counts for a product when it carries every label the pods are pinned with (the
product's label and ``spec.gpu.nodeSelector``); its size is the allocatable count of the GPU
resource the pods request, as the vendor's device plugin advertises it. Cordoned nodes count:
they come back, and a replica too large for them is still too large.

No node of the product at all says nothing about size (a cluster autoscaler may create one), so
that case gives no limit and the pods wait with the scheduler's own reason.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator.placement.sizing import NodeLimit

__all__ = ["free_gpus", "largest_node", "pinning_selector"]


def pinning_selector(labels: dict[str, str]) -> str:
    """A label selector for nodes carrying every one of ``labels``."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _allocatable(node: dict[str, Any], resource: str) -> int:
    status = node.get("status", {})
    value = (status.get("allocatable") or status.get("capacity") or {}).get(resource, "0")
    try:
        return int(str(value))
    except ValueError:
        return 0


def largest_node(nodes: list[dict[str, Any]], resource: str) -> NodeLimit | None:
    """The node with the most allocatable ``resource`` among ``nodes``; None if there are none."""
    if not nodes:
        return None
    best = max(nodes, key=lambda n: (_allocatable(n, resource), n["metadata"]["name"]))
    return NodeLimit(best["metadata"]["name"], _allocatable(best, resource), resource)


def _requested(pod: dict[str, Any], resource: str) -> int:
    total = 0
    for container in pod.get("spec", {}).get("containers", []) or []:
        resources = container.get("resources", {}) or {}
        value = (resources.get("limits") or {}).get(resource) or (
            resources.get("requests") or {}
        ).get(resource)
        try:
            total += int(str(value or 0))
        except ValueError:
            continue
    return total


def free_gpus(node: dict[str, Any], pods: list[dict[str, Any]], resource: str) -> int:
    """GPUs of ``node`` no pod holds: allocatable less what its unfinished pods request."""
    held = sum(
        _requested(p, resource)
        for p in pods
        if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    )
    return max(_allocatable(node, resource) - held, 0)
