"""``gptoss-localkube``: build the toolchain, or run a local cluster by hand for debugging.

gptoss-localkube build        build/find the binaries, kubectl and helm; print where
gptoss-localkube up           start a cluster, print its kubeconfig, run until Ctrl-C
gptoss-localkube up --show    ... and print `kubectl get nodes` with GPU columns first
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from gptoss_localkube.cluster import DEFAULT_POD_NETWORK, ClusterInfo, LocalCluster
from gptoss_localkube.toolchain import Toolchain, ensure_toolchain

GPU_COLUMNS = (
    "NAME:.metadata.name,"
    "READY:.status.conditions[?(@.type=='Ready')].status,"
    "NVIDIA-GPU:.status.allocatable.nvidia\\.com/gpu,"
    "AMD-GPU:.status.allocatable.amd\\.com/gpu,"
    "PRODUCT:.metadata.labels.nvidia\\.com/gpu\\.product,"
    "AMD-PRODUCT:.metadata.labels.amd\\.com/gpu\\.product-name,"
    "POD-CIDR:.spec.podCIDR"
)


def show_nodes(toolchain: Toolchain, info: ClusterInfo) -> str:
    """`kubectl get nodes` with the GPU product and count of each node."""
    result = subprocess.run(
        [
            str(toolchain.kubectl),
            "--kubeconfig",
            str(info.kubeconfig),
            "get",
            "nodes",
            "-o",
            f"custom-columns={GPU_COLUMNS}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def _print_how_to_use(toolchain: Toolchain, info: ClusterInfo) -> None:
    print(f"kubeconfig: {info.kubeconfig}")
    print(f"  export KUBECONFIG={info.kubeconfig}")
    print(f"  export PATH={toolchain.tools_dir}:$PATH")
    print(f"logs:       {info.log_dir}")
    print(
        f"started in {info.timings['total']:.1f}s "
        f"(etcd {info.timings['etcd']:.1f}s, apiserver {info.timings['apiserver']:.1f}s, "
        f"nodes {info.timings['nodes']:.1f}s)"
    )


def _up(args: argparse.Namespace) -> int:
    toolchain = ensure_toolchain()
    root = Path(args.dir) if args.dir else None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    cluster = LocalCluster(toolchain, root=root, pod_network=args.pod_network)
    with cluster as info:
        print(show_nodes(toolchain, info), end="")
        _print_how_to_use(toolchain, info)
        if args.exit:
            return 0
        print("running; Ctrl-C stops every process and removes the cluster's files")
        while not stop.wait(1.0):
            cluster.supervisor.check()
    return 0


def _build(_: argparse.Namespace) -> int:
    toolchain = ensure_toolchain()
    print(f"binaries: {toolchain.bin_dir}")
    print(f"kubectl:  {toolchain.kubectl}")
    print(f"helm:     {toolchain.helm}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gptoss-localkube",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build or find the control-plane binaries, kubectl and helm")
    up = sub.add_parser("up", help="start a local cluster with fake GPU nodes")
    up.add_argument("--dir", help="keep the cluster's files here (default: a temp dir)")
    up.add_argument(
        "--pod-network",
        default=DEFAULT_POD_NETWORK,
        help="loopback network the fake nodes' pod CIDRs are cut from",
    )
    up.add_argument(
        "--exit",
        action="store_true",
        help="stop again once the cluster is up and its nodes are shown",
    )
    args = parser.parse_args(argv)
    handlers = {"up": _up, "build": _build}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
