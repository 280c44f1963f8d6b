"""The host's side of the real node's network (see ``realnode``), and the lock that lets one
real node run on a machine at a time: kube-proxy's iptables chains and the node's addresses
belong to the host, not to one cluster."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gptoss_localkube import realnode
from gptoss_localkube.containerd import run_checked

__all__ = ["HostClaim", "cache_dir", "claim_host", "prepare_host_network", "restore_host_network"]


def cache_dir() -> Path:
    """Where real nodes keep what outlives one cluster (containerd's images, the lock)."""
    return Path(os.environ.get("GPTOSS_CACHE", Path.home() / ".cache" / "gptoss")) / "node"


def prepare_host_network(address: str) -> None:
    """The node's address on the loopback link (this kernel has no dummy links; an address
    outside 127.0.0.0/8 on ``lo`` is reached from other network namespaces like any of the
    host's), the KWOK pod range routed as local, forwarding on, and bridged traffic through
    iptables (so a ClusterIP answered from the same bridge is translated back). Idempotent."""
    run_checked("ip", "addr", "replace", f"{address}/32", "dev", "lo")
    pods = realnode.KWOK_POD_NETWORK
    run_checked("ip", "route", "replace", "local", pods, "dev", "lo", "table", "local")
    for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
        Path("/proc/sys", key).write_text("1\n")


# Chains the kubelet makes for itself (kube-proxy --cleanup removes kube-proxy's):
# table -> chains, and the built-in chains that jump to one.
_KUBELET_CHAINS = {
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"),
    "nat": ("KUBE-KUBELET-CANARY",),
    "mangle": ("KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"),
}
_KUBELET_JUMPS = (("filter", "INPUT", "KUBE-FIREWALL"), ("filter", "OUTPUT", "KUBE-FIREWALL"))


def restore_host_network(address: str) -> None:
    """Undo :func:`prepare_host_network`, remove the node's pod bridge and the kubelet's
    iptables chains, so nothing of the node stays in the host's network (forwarding and the
    bridge setting stay on)."""
    run_checked(
        "ip", "route", "del", "local", realnode.KWOK_POD_NETWORK, "table", "local", check=False
    )
    run_checked("ip", "addr", "del", f"{address}/32", "dev", "lo", check=False)
    run_checked("ip", "link", "del", realnode.BRIDGE, check=False)
    for table, chain, target in _KUBELET_JUMPS:
        run_checked("iptables", "-t", table, "-D", chain, "-j", target, check=False)
    for table, chains in _KUBELET_CHAINS.items():
        for chain in chains:
            run_checked("iptables", "-t", table, "-F", chain, check=False)
            run_checked("iptables", "-t", table, "-X", chain, check=False)


@dataclass
class HostClaim:
    """The machine's one real node: held until :meth:`release`."""

    address: str
    lock: IO[str]

    def release(self) -> None:
        try:
            restore_host_network(self.address)
        finally:
            self.lock.close()


def claim_host(address: str) -> HostClaim:
    """Wait until no other real node runs on this machine, then prepare the host's network for
    one at ``address``."""
    path = cache_dir() / "node.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        prepare_host_network(address)
    except BaseException:
        handle.close()
        raise
    return HostClaim(address, handle)
