"""The router's resident memory over a long run: start, every 100k requests, end.

    .venv/bin/python bench/router_memory.py [--requests 1000000] [--every 100000]
        [--concurrency 64] [--mode mixed|json|stream]

The fake upstream and the load generator of bench/gateway_vs_litellm.py (``bench/gwload``, Go)
run on CPU 0; the router (``python -m gptoss_router --config``, one static local pool, one app
key) on CPU 1. After a warm-up of ``--warmup`` requests the router's RSS is the baseline; then
``--requests`` requests go through in batches of ``--every`` (``mixed`` alternates plain and
streamed batches), with VmRSS read from /proc after each batch. The goal is flat: the end
within 5 % of the baseline. Prints the samples; writes bench/results/router_memory.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import subprocess
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
    KEY,
    MODEL,
    REPO,
    base_environment,
    gptoss_config,
)
from bench.gateway.processes import free_port, machine, pinned, rss_mib, wait_ready  # noqa: E402
from bench.gateway.tools import ensure_gwload  # noqa: E402

RESULT = REPO / "bench" / "results" / "router_memory.json"


def batch(gwload: Path, port: int, *, count: int, concurrency: int, stream: bool) -> dict[str, Any]:
    argv = [
        "taskset", "-c", str(CLIENT_CPU), str(gwload), "load",
        "-url", f"http://127.0.0.1:{port}/v1/chat/completions",
        "-c", str(concurrency), "-n", str(count), "-key", KEY, "-model", MODEL,
    ]  # fmt: skip
    if stream:
        argv.append("-stream")
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000, help="RSS sample interval")
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--mode", choices=("mixed", "json", "stream"), default="mixed")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    gwload = ensure_gwload()
    upstream, port = free_port(), free_port()
    samples: list[dict[str, Any]] = []
    print("pinning: router on CPU 1, load generator and upstream on CPU 0")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="routermem-")))
        (work / "gptoss.json").write_text(json.dumps(gptoss_config(port, upstream)))
        env = base_environment()
        stack.enter_context(
            pinned("upstream", CLIENT_CPU,
                   [str(gwload), "upstream", "-addr", f"127.0.0.1:{upstream}"],
                   work / "upstream.log", env)
        )  # fmt: skip
        pid = stack.enter_context(
            pinned("gptoss", GATEWAY_CPU,
                   [sys.executable, "-m", "gptoss_router", "--config", str(work / "gptoss.json")],
                   work / "gptoss.log", env)
        )  # fmt: skip
        wait_ready("gptoss", port, work / "gptoss.log")
        idle = rss_mib(pid)
        for stream in (False, True):
            batch(gwload, port, count=args.warmup // 2, concurrency=args.concurrency, stream=stream)
        baseline = rss_mib(pid)
        print(f"RSS idle {idle:.1f} MiB; after {args.warmup:,} warm-up requests {baseline:.1f} MiB")
        print(f"  {'requests':>10}{'RSS MiB':>9}{'vs start':>9}{'req/s':>8}{'errors':>7}  mode")
        done, index, started = 0, 0, time.monotonic()
        while done < args.requests:
            n = min(args.every, args.requests - done)
            stream = args.mode == "stream" or (args.mode == "mixed" and index % 2 == 1)
            run = batch(gwload, port, count=n, concurrency=args.concurrency, stream=stream)
            done += n
            index += 1
            rss = rss_mib(pid)
            sample = {
                "requests": done,
                "rss_mib": round(rss, 2),
                "rps": round(run["rps"]),
                "errors": run["errors"],
                "stream": stream,
            }
            samples.append(sample)
            print(
                f"  {done:>10,}{rss:>9.1f}{100 * (rss / baseline - 1):>+8.1f}%{run['rps']:>8.0f}"
                f"{run['errors']:>7}  {'stream' if stream else 'json'}"
            )
        peak = rss_mib(pid, "VmHWM")
    end = samples[-1]["rss_mib"] if samples else baseline
    change = 100 * (end / baseline - 1)
    verdict = "flat (within 5 %)" if abs(change) <= 5 else "NOT flat (goal within 5 %)"
    print(
        f"start {baseline:.1f} MiB -> end {end:.1f} MiB ({change:+.1f} %), peak {peak:.1f} MiB, "
        f"{args.requests:,} requests in {time.monotonic() - started:.0f} s: {verdict}"
    )
    result = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "mode": args.mode,
        "idle_rss_mib": round(idle, 2),
        "start_rss_mib": round(baseline, 2),
        "end_rss_mib": end,
        "peak_rss_mib": round(peak, 2),
        "change_pct": round(change, 2),
        "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
