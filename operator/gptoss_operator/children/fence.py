"""The NetworkPolicy that fences a GptOssDeployment's vLLM pods (pure).

vLLM's port serves the model to whoever reaches it, with no key; the router is meant to be the
only way in (it checks app keys, budgets and limits), and the operator reads ``/metrics`` on
the same port. The policy selects the CR's pods and admits, on that port only, the pods named
by the operator's settings (the chart passes its router's and operator's labels and its
namespace). It says nothing about other ports or egress, and policies add up: a Prometheus that
scrapes vLLM directly needs a policy of its own beside this one. Kubelet probes are not subject
to NetworkPolicy on the usual network plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_operator import names
from gptoss_operator.children.deployment import Owner, owner_reference

__all__ = ["Clients", "build_fence"]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server


@dataclass(frozen=True)
class Clients:
    """Who may reach vLLM's port: pods with one of ``labels`` in ``namespace``."""

    namespace: str
    labels: tuple[dict[str, str], ...]


def build_fence(owner: Owner, model: str, clients: Clients) -> dict[str, Any]:
    """Ingress to the CR's vLLM pods on their port, from ``clients`` only."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": names.fence_name(owner.name),
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "vllm"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "podSelector": {"matchLabels": names.selector_labels(owner.name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {NAMESPACE_NAME_LABEL: clients.namespace}
                            },
                            "podSelector": {"matchLabels": dict(labels)},
                        }
                        for labels in clients.labels
                    ],
                    "ports": [{"port": names.VLLM_PORT, "protocol": "TCP"}],
                }
            ],
        },
    }
