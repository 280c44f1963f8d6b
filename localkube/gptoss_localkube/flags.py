"""Command lines of the control-plane processes, and the admin kubeconfig (pure).

Flag choices, each for a reason:

* Everything binds to 127.0.0.1. The API server is told ``--advertise-address=127.0.0.1``
  (otherwise it derives one from the default route and exits where there is none) and
  ``--endpoint-reconciler-type=none`` (a loopback address may not be written into the
  ``kubernetes`` Endpoints; kwokctl passes the same flag). A cluster with a real node gives the
  API server the node's address instead (``Layout.address``): it listens there, and its lease
  reconciler writes that address into the ``kubernetes`` Endpoints, which kube-proxy maps the
  Service's ClusterIP to; it then reaches the kubelet with its own client certificate.
* ``--service-cluster-ip-range`` is kept apart from the loopback pod network.
* etcd runs with ``--unsafe-no-fsync``: a throw-away test store needs no durability, and fsync
  dominates etcd latency on shared disks.
* The controller manager runs every default controller (``--controllers=*``: deployment,
  replicaset, garbage collector, namespace, endpointslice, node lifecycle, service-account
  tokens, ...) with per-controller service-account credentials, as a kubeadm cluster does; node
  CIDR allocation stays off so each fake node keeps its own loopback ``podCIDR``.
* KWOK manages only nodes annotated ``kwok.x-k8s.io/node=fake`` and renews node leases
  (``--node-lease-duration-seconds``), so the node-lifecycle controller sees healthy nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Layout",
    "apiserver_args",
    "client_kubeconfig",
    "controller_manager_args",
    "etcd_args",
    "kubeconfig",
    "kwok_args",
    "scheduler_args",
]

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Layout:
    """Where a local cluster keeps its files, which ports it uses, and which binaries run it."""

    root: Path
    bin_dir: Path
    stages_dir: Path
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    scheduler_port: int
    kwok_port: int
    pod_network: str
    service_network: str = "10.96.0.0/16"
    address: str = HOST  # where the API server listens and what it advertises

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "audit.log"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def loopback(self) -> bool:
        return self.address == HOST

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)


def etcd_args(layout: Layout) -> list[str]:
    client = f"http://{HOST}:{layout.etcd_client_port}"
    peer = f"http://{HOST}:{layout.etcd_peer_port}"
    return [
        layout.binary("etcd"),
        f"--data-dir={layout.root / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ]


def apiserver_args(layout: Layout) -> list[str]:
    pki = layout.pki
    kubelet_client = (
        []
        if layout.loopback
        else [
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]
    )
    return [
        layout.binary("kube-apiserver"),
        f"--etcd-servers=http://{HOST}:{layout.etcd_client_port}",
        f"--bind-address={layout.address}",
        f"--advertise-address={layout.address}",
        f"--secure-port={layout.apiserver_port}",
        f"--endpoint-reconciler-type={'none' if layout.loopback else 'lease'}",
        *kubelet_client,
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--token-auth-file={pki / 'tokens.csv'}",
        f"--service-cluster-ip-range={layout.service_network}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.key'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--enable-priority-and-fairness=false",
        f"--audit-policy-file={layout.root / 'audit-policy.yaml'}",
        f"--audit-log-path={layout.audit_log}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--profiling=false",
        "--v=1",
    ]


# Every write (create, update, patch, delete) at Metadata level, no reads: tests count the
# writes a component makes, e.g. that the operator makes none when nothing changed.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "Metadata"},
    ],
}


def controller_manager_args(layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        layout.binary("kube-controller-manager"),
        f"--kubeconfig={layout.kubeconfig}",
        f"--authentication-kubeconfig={layout.kubeconfig}",
        f"--authorization-kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        f"--bind-address={HOST}",
        f"--secure-port={layout.controller_manager_port}",
        f"--cert-dir={layout.root / 'kcm-certs'}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=true",
        "--controllers=*",
        f"--service-cluster-ip-range={layout.service_network}",
        "--allocate-node-cidrs=false",
        "--node-monitor-period=5s",
        "--horizontal-pod-autoscaler-sync-period=5s",
        "--node-monitor-grace-period=40s",
        "--concurrent-gc-syncs=10",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_args(layout: Layout) -> list[str]:
    return [
        layout.binary("kube-scheduler"),
        f"--kubeconfig={layout.kubeconfig}",
        f"--authentication-kubeconfig={layout.kubeconfig}",
        f"--authorization-kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        f"--bind-address={HOST}",
        f"--secure-port={layout.scheduler_port}",
        f"--cert-dir={layout.root / 'scheduler-certs'}",
        "--profiling=false",
        "--v=1",
    ]


KWOK_STAGES = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)


def kwok_args(layout: Layout, *, stage_files: list[Path]) -> list[str]:
    args = [
        layout.binary("kwok"),
        f"--kubeconfig={layout.kubeconfig}",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-lease-duration-seconds=40",
        f"--cidr={layout.pod_network}",
        f"--node-ip={HOST}",
        f"--server-address={HOST}:{layout.kwok_port}",
    ]
    for stage in stage_files:
        args.append(f"--config={stage}")
    return args


def kubeconfig(layout: Layout, *, token: str, name: str = "gptoss-local") -> dict[str, Any]:
    """An admin kubeconfig that verifies the API server against the cluster's CA."""
    return client_kubeconfig(
        layout.server, layout.pki / "ca.crt", token=token, user=f"{name}-admin", name=name
    )


def client_kubeconfig(
    server: str, ca_file: Path, *, token: str, user: str, name: str = "gptoss-local"
) -> dict[str, Any]:
    """A kubeconfig for ``user``, authenticated by ``token``, verifying ``server`` against
    ``ca_file``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }


def dump_kubeconfig(config: dict[str, Any]) -> str:
    """YAML text of a kubeconfig (or any plain document)."""
    return yaml.safe_dump(config, sort_keys=False)
