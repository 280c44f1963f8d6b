"""The Service and PodDisruptionBudget of a GptOssDeployment (pure)."""

from __future__ import annotations

from typing import Any

from gptoss_operator import names
from gptoss_operator.children.deployment import Owner, owner_reference

__all__ = ["build_pdb", "build_service"]


def build_service(owner: Owner, model: str) -> dict[str, Any]:
    """A ClusterIP Service over the ready vLLM pods: the CR's in-cluster endpoint."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.service_name(owner.name),
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "vllm"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector_labels(owner.name),
            "ports": [
                {"name": "http", "port": names.VLLM_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def build_pdb(owner: Owner, model: str) -> dict[str, Any]:
    """Voluntary disruptions (node drains) take at most one replica at a time.

    ``unhealthyPodEvictionPolicy: AlwaysAllow`` lets a drain evict replicas that are still
    loading or failing, so a stuck pod never blocks node maintenance.
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": names.pdb_name(owner.name),
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "vllm"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": names.selector_labels(owner.name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
