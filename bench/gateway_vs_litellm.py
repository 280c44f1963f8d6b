"""Gateway overhead side by side: direct vs through gptoss vs through LiteLLM's proxy.

    .venv/bin/python bench/gateway_vs_litellm.py [--seconds 5] [--concurrency 1,16,64,256]
        [--open-rate 1000] [--litellm-version 1.108.5] [--no-litellm] [--no-store]

One fake OpenAI-compatible upstream (Go, answers at once; a stream is 20 content events, a
finish event, a usage event and [DONE], each flushed on its own) serves all three paths:

- direct: the load generator calls the upstream;
- gptoss: ``python -m gptoss_router --config`` with one static local pool holding the upstream
  and one app key (so the bearer check runs, as in production), state in the process;
- gptoss+store: the same router sharing state through a real redis-server (started here, on
  CPU 0), its app under requests- and tokens-per-minute limits and daily and monthly dollar
  budgets set high enough never to refuse, so every request is admitted through the leases and
  every answer settled and synced, as with several replicas;
- LiteLLM: ``litellm --config`` (``litellm[proxy]`` from PyPI in its own venv under
  ~/.cache/gptoss/litellm-venv-VERSION), one uvicorn worker (uvloop), no database, a master
  key, spend and error logs off, debug logging off, LITELLM_LOG=ERROR, LITELLM_MODE=PRODUCTION
  and the bundled model cost map (its documented production settings, less those that need a
  database or Slack). Its ``--telemetry`` switch is a no-op in this version: nothing to turn off.

Pinning: both gateways run on CPU 1 (taskset -c 1), the load generator and the upstream on
CPU 0 (taskset -c 0). Each cell runs direct, gptoss and LiteLLM back to back, so the ratios
compare figures taken minutes apart at most. The load generator is ``bench/gwload`` (Go,
standard library only), built with the local Go toolchain into ~/.cache/gptoss/tools: a closed
loop with one keep-alive connection per worker, latency to the last body byte and TTFT to the
first. An open-loop run at ``--open-rate`` requests/s (latency from the scheduled start) follows.

Prints the tables; writes bench/results/gateway_vs_litellm.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gateway.configs import (  # noqa: E402
    CLIENT_CPU,
    GATEWAY_CPU,
    LITELLM_ENV,
    REPO,
    base_environment,
    gptoss_config,
    litellm_config,
)
from bench.gateway.load import load  # noqa: E402
from bench.gateway.processes import (  # noqa: E402
    cpu_seconds,
    free_port,
    machine,
    pinned,
    rss_mib,
    wait_ready,
)
from bench.gateway.report import print_cell, print_summary  # noqa: E402
from bench.gateway.tools import LITELLM_VERSION, ensure_gwload, ensure_litellm  # noqa: E402

from gptoss_localkube.redis_server import RedisServer, ensure_redis  # noqa: E402

RESULT = REPO / "bench" / "results" / "gateway_vs_litellm.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="recorded seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds per cell")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--open-rate", type=float, default=1000.0, help="0 skips the open loop")
    parser.add_argument("--litellm-version", default=LITELLM_VERSION)
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--no-store", action="store_true", help="leave gptoss+store out")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two CPUs: the gateway on CPU 1, client and upstream on CPU 0")
    os.sched_setaffinity(0, {CLIENT_CPU})  # this script only waits; keep it off the gateway's core

    gwload = ensure_gwload()
    litellm = None if args.no_litellm else ensure_litellm(args.litellm_version)
    upstream_port, gptoss_port, litellm_port = free_port(), free_port(), free_port()
    stored_port = free_port()
    base_env = base_environment()
    print(f"machine: {machine()}")
    print("pinning (gateways share CPU 1, one at a time under load; client and upstream on CPU 0):")
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "pinning": {"gateways": GATEWAY_CPU, "load_generator": CLIENT_CPU, "upstream": CLIENT_CPU},
        "litellm_version": None if litellm is None else args.litellm_version,
        "seconds_per_cell": args.seconds,
        "cells": [],
        "open_loop": [],
    }
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gwbench-")))
        (work / "gptoss.json").write_text(json.dumps(gptoss_config(gptoss_port, upstream_port)))
        (work / "litellm.json").write_text(json.dumps(litellm_config(upstream_port)))
        pids: dict[str, int] = {}
        stack.enter_context(
            pinned("upstream", CLIENT_CPU,
                   [str(gwload), "upstream", "-addr", f"127.0.0.1:{upstream_port}"],
                   work / "upstream.log", base_env)
        )  # fmt: skip
        pids["gptoss"] = stack.enter_context(
            pinned("gptoss", GATEWAY_CPU,
                   [sys.executable, "-m", "gptoss_router", "--config", str(work / "gptoss.json")],
                   work / "gptoss.log", base_env)
        )  # fmt: skip
        if not args.no_store:
            redis = stack.enter_context(RedisServer(binary=ensure_redis()))
            os.sched_setaffinity(redis.pid or 0, {CLIENT_CPU})
            config = gptoss_config(
                stored_port, upstream_port, store_url=redis.url, store_password=redis.password
            )
            (work / "stored.json").write_text(json.dumps(config))
            pids["gptoss+store"] = stack.enter_context(
                pinned("gptoss+store", GATEWAY_CPU,
                       [sys.executable, "-m", "gptoss_router", "--config",
                        str(work / "stored.json")],
                       work / "gptoss+store.log", base_env)
            )  # fmt: skip
        if litellm is not None:
            pids["litellm"] = stack.enter_context(
                pinned("litellm", GATEWAY_CPU,
                       [str(litellm), "--config", str(work / "litellm.json"), "--host",
                        "127.0.0.1", "--port", str(litellm_port), "--num_workers", "1"],
                       work / "litellm.log", {**base_env, **LITELLM_ENV})
            )  # fmt: skip
        print(f"  gwload    CPU {CLIENT_CPU}: taskset -c {CLIENT_CPU} {gwload} load ...")
        ports = {
            "direct": upstream_port,
            "gptoss": gptoss_port,
            "gptoss+store": stored_port,
            "litellm": litellm_port,
        }
        targets = ["direct", *pids]
        for name in pids:
            wait_ready(name, ports[name], work / f"{name}.log")
        results["idle_rss_mib"] = {n: round(rss_mib(p), 1) for n, p in pids.items()}
        print(f"idle RSS MiB: {results['idle_rss_mib']}")

        rate_seen: dict[str, float] = {}
        for stream in (False, True):
            for conc in levels:
                cell: dict[str, Any] = {"stream": stream, "concurrency": conc}
                for name in targets:
                    # A closed loop's latency is concurrency / throughput: give a slow gateway a
                    # warm-up of one and a half of its cycles and a window of three.
                    cycle = conc / rate_seen[name] if rate_seen.get(name) else 0.0
                    warmup = min(60.0, max(args.warmup, 1.5 * cycle))
                    seconds = min(120.0, max(args.seconds, 3 * cycle))
                    before = {n: cpu_seconds(p) for n, p in pids.items()}
                    t0 = time.monotonic()
                    run = load(gwload, ports[name], concurrency=conc, stream=stream,
                               seconds=seconds, warmup=warmup)  # fmt: skip
                    wall = time.monotonic() - t0
                    run["warmup_s"] = warmup
                    run["gateway_cpu_pct"] = {
                        n: round(100 * (cpu_seconds(p) - before[n]) / wall, 1)
                        for n, p in pids.items()
                    }
                    if run["rps"] > 0:
                        rate_seen[name] = run["rps"]
                    cell[name] = run
                results["cells"].append(cell)
                print_cell(cell, targets)
        if args.open_rate > 0:
            for name in targets:
                run = load(
                    gwload,
                    ports[name],
                    concurrency=1024,
                    stream=False,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    rate=args.open_rate,
                    timeout=10.0,  # a gateway that falls behind shows as errors, not a wait
                )
                results["open_loop"].append({"target": name, **run})
        results["peak_rss_mib"] = {n: round(rss_mib(p, "VmHWM"), 1) for n, p in pids.items()}
        results["end_rss_mib"] = {n: round(rss_mib(p), 1) for n, p in pids.items()}
    print_summary(results, targets, levels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
