"""The cluster's DNS on the real node: CoreDNS (``localkube/go/coredns``) answering on the node's
address, configured as kubeadm configures it, reading Services and EndpointSlices as its own user
with the permissions of kubeadm's ``system:coredns`` role (pure)."""

from __future__ import annotations

from typing import Any

from gptoss_localkube.realnode import COREDNS_USER, NodeLayout

__all__ = ["coredns_args", "coredns_rbac", "corefile"]


def corefile(node: NodeLayout) -> str:
    """The cluster's DNS, as kubeadm configures CoreDNS, answering on the node's address."""
    return f"""\
.:53 {{
    bind {node.address}
    errors
    health 127.0.0.1:{node.dns_health_port}
    ready 127.0.0.1:{node.dns_ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {node.kubeconfig("coredns")}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
    loadbalance
}}
"""


def coredns_args(node: NodeLayout) -> list[str]:
    return [node.binary("coredns"), "-conf", str(node.root / "Corefile")]


def coredns_rbac() -> list[dict[str, Any]]:
    """What CoreDNS's kubernetes plugin reads (kubeadm's ``system:coredns`` role)."""
    name = "gptoss-localkube:coredns"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "User", "name": COREDNS_USER}],
        },
    ]
