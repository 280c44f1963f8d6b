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
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from gptoss_localkube.redis_server import RedisServer, ensure_redis

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("GPTOSS_CACHE", str(Path.home() / ".cache" / "gptoss")))
TOOLS = CACHE / "tools"
GWLOAD_SRC = REPO / "bench" / "gwload" / "main.go"
LITELLM_VERSION = "1.108.5"
MODEL = "gpt-oss-120b"
KEY = "sk-bench-0123456789abcdef"
GATEWAY_CPU, CLIENT_CPU = 1, 0
RESULT = REPO / "bench" / "results" / "gateway_vs_litellm.json"


# -- tools ----------------------------------------------------------------------------------


def ensure_gwload() -> Path:
    """The load generator, built once per version of its source."""
    digest = hashlib.sha256(GWLOAD_SRC.read_bytes()).hexdigest()[:12]
    binary = TOOLS / f"gwload-{digest}"
    if not binary.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": ""}
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(
                ["go", "build", "-trimpath", "-o", str(binary), str(GWLOAD_SRC)],
                check=True,
                cwd=work,
                env=env,
            )
    return binary


def ensure_litellm(version: str) -> Path:
    """LiteLLM's proxy CLI from PyPI, in a venv of its own (never in the project's)."""
    venv = CACHE / f"litellm-venv-{version}"
    cli = venv / "bin" / "litellm"
    if not cli.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"litellm[proxy]=={version}"],
            check=True,
        )  # fmt: skip
    return cli


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def pinned(name: str, cpu: int, cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[int]:
    """Run ``cmd`` under ``taskset -c cpu`` (taskset execs it: the pid is the command's)."""
    argv = ["taskset", "-c", str(cpu), *cmd]
    print(f"  {name:<9} CPU {cpu}: {' '.join(argv)}")
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (``VmRSS``) or its peak (``VmHWM``) of a process tree, MiB."""
    return sum(_status_kib(p, field) for p in tree(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree so far."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_ready(name: str, port: int, log: Path, deadline_s: float = 120.0) -> None:
    """Until one chat completion through ``port`` answers 200."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {KEY}"}
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json=body,
                headers=headers,
                timeout=5,
            )
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"{name} never answered on {port}: {last}\n{tail}")


# -- configurations -------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    """This environment less anything that would reconfigure either gateway behind our back."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GPTOSS_ROUTER_", "LITELLM"))}


def gptoss_config(
    port: int, upstream: int, *, store_url: str | None = None, store_password: str = ""
) -> dict[str, Any]:
    app: dict[str, Any] = {"name": "bench", "key": KEY}
    extra: dict[str, Any] = {}
    if store_url is not None:
        app["limits"] = {
            "requests_per_minute": 100_000_000,
            "tokens_per_minute": 10_000_000_000,
            "dollars_per_day": 1_000_000.0,
            "dollars_per_month": 10_000_000.0,
        }
        extra["store"] = {"url": store_url, "key": store_password}
    return {
        **extra,
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "models": {
            MODEL: {
                "local": {
                    "pods": [f"http://127.0.0.1:{upstream}"],
                    "scrape": False,
                    # above the largest concurrency, so admission never sheds the load
                    "max_inflight": 4096,
                }
            }
        },
        "apps": [app],
    }


def litellm_config(upstream: int) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": f"http://127.0.0.1:{upstream}/v1",
                    "api_key": "fake-key",
                },
            }
        ],
        "general_settings": {
            "master_key": KEY,
            "disable_spend_logs": True,
            "disable_error_logs": True,
        },
        "litellm_settings": {
            "request_timeout": 600,
            "set_verbose": False,
            "json_logs": True,
        },
    }


LITELLM_ENV = {
    "LITELLM_LOG": "ERROR",  # its production guide: turn FastAPI's info logs off
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map from the internet
}


# -- measuring ------------------------------------------------------------------------------


def load(
    gwload: Path,
    port: int,
    *,
    concurrency: int,
    stream: bool,
    seconds: float,
    warmup: float,
    rate: float = 0.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    argv = [
        "taskset", "-c", str(CLIENT_CPU), str(gwload), "load",
        "-url", f"http://127.0.0.1:{port}/v1/chat/completions",
        "-c", str(concurrency), "-d", f"{seconds}s", "-warmup", f"{warmup}s",
        "-key", KEY, "-model", MODEL, "-rate", str(rate), "-timeout", f"{timeout}s",
    ]  # fmt: skip
    if stream:
        argv.append("-stream")
    done = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=warmup + seconds + timeout + 60
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(mem_kib / 2**20, 1)}


def _fmt(value: float | None, spec: str = "8.2f") -> str:
    return format(value, spec) if value is not None else " " * (int(spec.split(".")[0]) - 1) + "-"


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
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GPTOSS_ROUTER_", "LITELLM"))
    }
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


def print_cell(cell: dict[str, Any], targets: list[str]) -> None:
    mode = "stream" if cell["stream"] else "json"
    direct = cell["direct"]
    print(f"\n{mode}, {cell['concurrency']} concurrent")
    print(
        f"  {'path':<14}{'req/s':>9}{'x direct':>9}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}"
        f"{'+p99 ms':>9}{'+TTFT p50':>10}{'errors':>7}{'gw CPU%':>8}"
    )
    for name in targets:
        r = cell[name]
        added = name != "direct"
        lat, ttft = r["latency_ms"], r["ttft_ms"]
        cpu = r["gateway_cpu_pct"].get(name) if added else None
        show_ttft = added and cell["stream"]
        print(
            f"  {name:<14}{r['rps']:>9.0f}{r['rps'] / direct['rps']:>9.3f}{lat['p50']:>9.2f}"
            f"{lat['p99']:>9.2f}"
            f"{_fmt(lat['p50'] - direct['latency_ms']['p50'] if added else None, '9.2f')}"
            f"{_fmt(lat['p99'] - direct['latency_ms']['p99'] if added else None, '9.2f')}"
            f"{_fmt(ttft['p50'] - direct['ttft_ms']['p50'] if show_ttft else None, '10.2f')}"
            f"{r['errors']:>7}{_fmt(cpu, '8.0f')}"
        )  # fmt: skip
    if "litellm" in cell and cell["litellm"]["rps"] > 0:
        print(
            f"  gptoss / LiteLLM requests/s: {cell['gptoss']['rps'] / cell['litellm']['rps']:.1f}x"
        )
    if "gptoss+store" in cell and cell["gptoss"]["rps"] > 0:
        stored, alone = cell["gptoss+store"], cell["gptoss"]
        print(
            f"  gptoss+store / gptoss requests/s: {stored['rps'] / alone['rps']:.3f}, "
            f"+p50 {stored['latency_ms']['p50'] - alone['latency_ms']['p50']:+.3f} ms"
        )


def print_summary(results: dict[str, Any], targets: list[str], levels: list[int]) -> None:
    for name in [t for t in targets if t.startswith("gptoss")]:
        print(f"\nrequests/s, {name} / LiteLLM (goal >= 25x at 64 concurrent):")
        print(f"  {'mode':<14}" + "".join(f"{c:>9}" for c in levels))
        for stream in (False, True):
            row = []
            for cell in results["cells"]:
                if cell["stream"] != stream:
                    continue
                lite = cell.get("litellm", {}).get("rps", 0)
                row.append(f"{cell[name]['rps'] / lite:>8.1f}x" if lite else f"{'-':>9}")
            print(f"  {'stream' if stream else 'json':<14}" + "".join(row))
    if results["open_loop"]:
        print("\nopen loop at a fixed rate (non-streaming; latency from the scheduled start):")
        print(
            f"  {'path':<14}{'rate':>7}{'done/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'+p99 ms':>9}"
            f"{'errors':>7}"
        )
        direct = next(r for r in results["open_loop"] if r["target"] == "direct")
        for r in results["open_loop"]:
            added = r["latency_ms"]["p99"] - direct["latency_ms"]["p99"]
            print(
                f"  {r['target']:<14}{r['rate']:>7.0f}{r['rps']:>8.0f}"
                f"{r['latency_ms']['p50']:>9.2f}{r['latency_ms']['p99']:>9.2f}"
                f"{_fmt(added if r['target'] != 'direct' else None, '9.2f')}{r['errors']:>7}"
            )  # fmt: skip
    print("\nRSS MiB     idle  peak (VmHWM)  end")
    for name in targets[1:]:
        idle, peak = results["idle_rss_mib"][name], results["peak_rss_mib"][name]
        print(f"  {name:<14}{idle:>6.0f}{peak:>14.0f}{results['end_rss_mib'][name]:>6.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
