"""The host's side of the real node's network (see ``realnode``), and the lock that lets one
real node run on a machine at a time: kube-proxy's iptables chains and the node's addresses
belong to the host, not to one cluster."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from gptoss_localkube import realnode
from gptoss_localkube.containerd import run_checked

__all__ = ["cache_dir", "claim_host", "prepare_host_network"]


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


def claim_host(address: str) -> IO[str]:
    """Wait until no other real node runs on this machine, then prepare the host's network for
    one at ``address``; the node may run while the returned file stays open."""
    path = cache_dir() / "node.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        prepare_host_network(address)
    except BaseException:
        handle.close()
        raise
    return handle
