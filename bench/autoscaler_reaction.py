"""Benchmark the autoscaler's reaction: queue spike -> /scale write, and replicas over time.

    python bench/autoscaler_reaction.py [--runs 3] [--interval 1.0]

Starts the local control plane, the CRD and the operator (autoscale interval ``--interval``),
applies a GptOssDeployment whose replica runs the vLLM simulator on its pod IP, then opens a load
step against that replica. The spike is the first moment the replica's
``vllm:num_requests_waiting`` (polled every 50 ms) exceeds the CR's target; the reaction ends at
the API server's own timestamp of the operator's PATCH to ``.../scale`` (from its audit log).
Prints each run, the median against the goal (<= 5 s), and the replicas-over-time trace of the
last run; writes bench/results/autoscaler_reaction.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.toolchain import ensure_toolchain
from gptoss_operator.autoscaling.signals import parse_vllm

REPO = Path(__file__).resolve().parents[1]
TARGET = 2


def _kubectl(kubectl: Path, info: ClusterInfo, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={info.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _cr(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB", "count": 1},
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 4,
                "targetQueueDepth": TARGET,
                "scaleDownDelay": "5m",
            },
            "serving": {"maxNumSeqs": 2, "maxModelLen": 32768},
            "pod": {
                "annotations": {
                    "localkube.gptoss.dev/runtime": "vllm-sim",
                    "localkube.gptoss.dev/startup-seconds": "1",
                }
            },
        },
    }


def _scale_writes(audit: Path, name: str) -> list[dt.datetime]:
    times = []
    for line in audit.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef", {})
        if (
            event.get("stage") == "ResponseComplete"
            and ref.get("subresource") == "scale"
            and ref.get("name") == name
            and event.get("verb") == "patch"
        ):
            times.append(dt.datetime.fromisoformat(event["requestReceivedTimestamp"]))
    return times


async def _load(url: str, concurrency: int, stop: asyncio.Event) -> None:
    body = {
        "model": "gpt-oss-20b",
        "messages": [{"role": "user", "content": "long story"}],
        "max_tokens": 20000,
        "stream": True,
    }

    async def one(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                    async for _ in r.aiter_lines():
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)

    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as http:
        await asyncio.gather(*(one(http) for _ in range(concurrency)))


async def _run(kubectl: Path, info: ClusterInfo, name: str) -> dict[str, Any]:
    namespace = name
    _kubectl(kubectl, info, "create", "namespace", namespace)
    _kubectl(kubectl, info, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(_cr(name)))
    _kubectl(
        kubectl,
        info,
        "wait",
        f"gptoss/{name}",
        "-n",
        namespace,
        "--for=condition=Ready",
        "--timeout=120s",
    )
    pod_ip = _kubectl(
        kubectl, info, "get", "pods", "-n", namespace, "-o", "jsonpath={.items[0].status.podIP}"
    )
    trace: list[tuple[float, int]] = []
    stop = asyncio.Event()
    loader = asyncio.create_task(_load(f"http://{pod_ip}:8000", 12, stop))
    started = time.monotonic()
    spike: dt.datetime | None = None
    async with httpx.AsyncClient(timeout=2) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if spike is None:
                text = (await http.get(f"http://{pod_ip}:8000/metrics")).text
                if parse_vllm(text).waiting > TARGET:
                    spike = dt.datetime.now(dt.UTC)
            replicas = int(await asyncio.to_thread(
                _kubectl, kubectl, info, "get", f"gptoss/{name}", "-n", namespace,
                "-o", "jsonpath={.spec.replicas}"))  # fmt: skip
            if not trace or trace[-1][1] != replicas:
                trace.append((round(time.monotonic() - started, 2), replicas))
            if replicas >= 4:
                break
            await asyncio.sleep(0.05)
    stop.set()
    await loader
    writes = _scale_writes(info.audit_log, name)
    reaction = (writes[0] - spike).total_seconds() if writes and spike else None
    return {"reaction_s": reaction, "trace": trace}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    toolchain = ensure_toolchain()
    results = []
    with (
        tempfile.TemporaryDirectory() as work,
        LocalCluster(toolchain, pod_network="127.199.0.0/16") as info,
    ):
        _kubectl(toolchain.kubectl, info, "apply", "--server-side", "-f", str(REPO / "crds"))
        _kubectl(
            toolchain.kubectl,
            info,
            "wait",
            "--for=condition=Established",
            "crd/gptossdeployments.gptoss.dev",
        )
        log = Path(work) / "operator.log"
        with log.open("wb") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "gptoss_operator", "--kubeconfig", str(info.kubeconfig)],
                stdout=out, stderr=subprocess.STDOUT,
                env={"GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": str(args.interval),
                     "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
            try:
                for run in range(args.runs):
                    results.append(asyncio.run(_run(toolchain.kubectl, info, f"react-{run}")))
            finally:
                operator.terminate()
                operator.wait(timeout=30)
    reactions = [r["reaction_s"] for r in results if r["reaction_s"] is not None]
    print(f"autoscaler reaction, queue spike -> /scale write (interval {args.interval}s):")
    for i, r in enumerate(results):
        shown = f"{r['reaction_s']:.2f}s" if r["reaction_s"] is not None else "no write seen"
        print(f"  run {i + 1}: {shown}")
    if reactions:
        print(f"  median {statistics.median(reactions):.2f}s (goal <= 5 s)")
    print("replicas over time, last run (seconds since the load started -> spec.replicas):")
    for t, replicas in results[-1]["trace"]:
        print(f"  {t:6.2f}s  {replicas}")
    out = REPO / "bench" / "results" / "autoscaler_reaction.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"interval_s": args.interval, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
