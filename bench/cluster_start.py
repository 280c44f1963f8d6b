"""Benchmark the local control plane: cold build, warm start, and memory.

    python bench/cluster_start.py [--runs N] [--cold]

Prints the cold build time recorded when the cached binaries were built (or, with ``--cold``,
measures a fresh build into a temporary Go build cache), the warm start time of N clusters
(credentials -> etcd -> API server -> controllers -> KWOK -> catalog nodes Ready), and the
resident memory of each control-plane process once the cluster is up. Writes the figures to
bench/results/cluster_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from gptoss_localkube.cluster import LocalCluster
from gptoss_localkube.toolchain import LOCALKUBE_DIR, ensure_toolchain


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cold_build_seconds() -> float:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as gocache:
        env = {**os.environ, "GPTOSS_CACHE": cache, "GOCACHE": gocache}
        t0 = time.monotonic()
        subprocess.run(["bash", str(LOCALKUBE_DIR / "build.sh")], check=True, env=env)
        return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="measure a fresh build (minutes)")
    args = parser.parse_args()

    toolchain = ensure_toolchain()
    cold = (
        f"{cold_build_seconds():.0f}s (measured now, empty Go build cache)"
        if args.cold
        else f"{toolchain.build_time}, when the cache was filled; --cold measures from nothing"
    )
    starts: list[dict[str, float]] = []
    memory: dict[str, float] = {}
    for run in range(args.runs):
        cluster = LocalCluster(toolchain, pod_network=f"127.{200 + run}.0.0/16")
        with cluster as info:
            starts.append(info.timings)
            if run == args.runs - 1:
                memory = {n: rss_mib(p) for n, p in cluster.supervisor.pids().items()}

    totals = [s["total"] for s in starts]
    print(f"build of etcd, kube-apiserver, controller-manager, scheduler, kwok: {cold}")
    print(f"warm cluster start over {args.runs} runs (goal < 20 s):")
    print(f"  {'phase':<12}{'median s':>10}{'min s':>8}{'max s':>8}")
    for phase in ("etcd", "apiserver", "nodes", "total"):
        values = [s[phase] for s in starts]
        print(
            f"  {phase:<12}{statistics.median(values):>10.2f}{min(values):>8.2f}{max(values):>8.2f}"
        )
    print("resident memory after start:")
    for name, mib in sorted(memory.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<26}{mib:>8.0f} MiB")
    print(f"  {'total':<26}{sum(memory.values()):>8.0f} MiB")

    out = Path(__file__).parent / "results" / "cluster_start.json"
    out.parent.mkdir(exist_ok=True)
    result = {
        "cold_build": cold,
        "starts": starts,
        "median_start_s": statistics.median(totals),
        "rss_mib": memory,
    }
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
