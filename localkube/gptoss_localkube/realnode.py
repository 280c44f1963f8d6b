"""A real node beside the KWOK GPU nodes: the files and command lines of its containerd, kubelet,
kube-proxy and CoreDNS (pure; ``nodehost`` does the I/O).

The node's network, chosen so that real containers and the simulated vLLM pods reach each other:

* The node's address, ``NODE_ADDRESS``, is one of the host's (on its loopback link). The API
  server listens there (the ``kubernetes`` Service's ClusterIP maps to it), and so do the
  kubelet and CoreDNS (``clusterdns``).
* The node's pods get addresses from ``NODE_POD_CIDR`` on a Linux bridge (the CNI ``bridge`` and
  ``host-local`` plugins, Debian's build), the host being their gateway.
* The KWOK nodes' pods get addresses from ``KWOK_POD_NETWORK``, which the host routes as local
  (``ip route add local ... dev lo``, as it does 127.0.0.0/8): a simulated vLLM process can bind
  any of them, and a container reaches it through its gateway. Loopback addresses would not do:
  a container's 127.0.0.0/8 is its own.
* kube-proxy (iptables mode) maps ClusterIPs to endpoints; both pod ranges lie in
  ``CLUSTER_CIDR``, so it masquerades only traffic from outside them.
* CoreDNS answers the cluster's names on the node's address; the kubelet gives pods that address
  as their name server, as a kubelet gives the ``kube-dns`` Service's ClusterIP elsewhere.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CLUSTER_CIDR",
    "KUBE_PROXY_USER",
    "KWOK_POD_NETWORK",
    "NODE_ADDRESS",
    "NODE_NAME",
    "NODE_POD_CIDR",
    "NodeLayout",
    "cni_config",
    "containerd_config",
    "dump_json",
    "first_address",
    "identities",
    "kube_proxy_args",
    "kubelet_args",
    "kubelet_config",
    "kubelet_user",
]

NODE_NAME = "gptoss-node"
NODE_ADDRESS = "10.246.0.1"
NODE_POD_CIDR = "10.245.0.0/24"
KWOK_POD_NETWORK = "10.244.0.0/16"
CLUSTER_CIDR = "10.244.0.0/15"
BRIDGE = "gptoss-br0"
CNI_BIN_DIR = "/usr/lib/cni"
KUBE_PROXY_USER = "system:kube-proxy"
COREDNS_USER = "system:gptoss-coredns"  # CoreDNS reads Services as this user


def first_address(network: str) -> str:
    """The first host address of ``network``: the ``kubernetes`` Service's ClusterIP."""
    return str(next(ipaddress.ip_network(network).hosts()))


def kubelet_user(node: str = NODE_NAME) -> str:
    """The identity the Node authorizer expects of ``node``'s kubelet."""
    return f"system:node:{node}"


def identities(node: str = NODE_NAME) -> dict[str, tuple[str, ...]]:
    """Token identities the API server must know for the node's components."""
    return {
        kubelet_user(node): ("system:nodes",),
        KUBE_PROXY_USER: ("system:node-proxiers",),
        COREDNS_USER: ("system:authenticated",),
    }


@dataclass(frozen=True)
class NodeLayout:
    """Where the node keeps its files, its ports, and the binaries and images it runs."""

    root: Path  # under the cluster's root
    bin_dir: Path  # kubelet, kube-proxy, coredns
    ca_file: Path
    pause_image: str
    kubelet_port: int
    kubelet_healthz_port: int
    proxy_metrics_port: int
    proxy_healthz_port: int
    dns_health_port: int
    dns_ready_port: int
    name: str = NODE_NAME
    address: str = NODE_ADDRESS

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    def kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)


def containerd_config(node: NodeLayout, *, root: Path) -> str:
    """containerd 1.6's config (version 2) for the node: its own root, state and socket, runc
    through the v2 shim with cgroupfs, the pause image made here, the node's CNI config.

    ``restrict_oom_score_adj``: the host refuses a negative ``oom_score_adj``, and runc then
    fails with "can't get final child's PID from pipe"; containerd then keeps the score within
    what the host allows (as it does when run rootless)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{root}"',
            f'state = "{node.root / "containerd-state"}"',
            "[grpc]",
            f'  address = "{node.containerd_socket}"',
            f"[{cri}]",
            f'  sandbox_image = "{node.pause_image}"',
            "  restrict_oom_score_adj = true",
            "  enable_unprivileged_ports = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN_DIR}"',
            f'  conf_dir = "{node.cni_conf_dir}"',
            "",
        ]
    )


def cni_config(node: NodeLayout) -> dict[str, Any]:
    """The node's pod network: a bridge with the host as gateway, addresses from host-local
    IPAM kept under the node's root (so a new cluster starts with every address free)."""
    return {
        "cniVersion": "1.0.0",
        "name": "gptoss-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.root / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(node: NodeLayout) -> dict[str, Any]:
    """KubeletConfiguration: clients authenticated by certificate (the API server's) or token
    review, authorized by the API server; cgroupfs on the host's cgroup v1 controllers
    (``failCgroupV1: false``); eviction thresholds low enough for a shared machine's disk."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.address,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(node.ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "clusterDNS": [node.address],
        "clusterDomain": "cluster.local",
        "staticPodPath": "",
        "serializeImagePulls": False,
        "maxPods": 32,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "syncFrequency": "10s",
    }


def kubelet_args(node: NodeLayout, *, labels: dict[str, str]) -> list[str]:
    return [
        node.binary("kubelet"),
        f"--config={node.root / 'kubelet.yaml'}",
        f"--kubeconfig={node.kubeconfig('kubelet')}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.address}",
        f"--root-dir={node.root / 'kubelet'}",
        f"--cert-dir={node.root / 'kubelet' / 'pki'}",
        f"--node-labels={','.join(f'{k}={v}' for k, v in sorted(labels.items()))}",
        "--v=1",
    ]


def kube_proxy_args(node: NodeLayout) -> list[str]:
    """kube-proxy in iptables mode. ``--conntrack-max-per-core=0`` leaves the host's conntrack
    table size as it is (a shared machine's sysctl, not this cluster's)."""
    return [
        node.binary("kube-proxy"),
        f"--kubeconfig={node.kubeconfig('kube-proxy')}",
        f"--hostname-override={node.name}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={CLUSTER_CIDR}",
        f"--metrics-bind-address=127.0.0.1:{node.proxy_metrics_port}",
        f"--healthz-bind-address=127.0.0.1:{node.proxy_healthz_port}",
        "--conntrack-max-per-core=0",
        "--v=1",
    ]


def dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
