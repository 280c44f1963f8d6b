"""Hedging against slow first events: the same load through the router with it off and on.

    .venv/bin/python bench/hedging.py [--requests 1200] [--concurrency 8] [--json PATH]

Two scenarios, each run twice in this process with fresh simulators (the same seeds): hedging
off (``hedge_quantile: 0``) and on (the defaults: the 95th percentile, learned per backend).

    providers   the model is served by three provider simulators only (Fireworks' profile,
                time to first token 0.3 s median); each request's time to first token is
                drawn log-normally (sigma 0.55, the spread ``bench/econ``'s world assumes)
    stalls      two vLLM simulators; one never answers about 1 chat request in 40 (a
                ``hang`` fault); the router's first-byte timeout is 5 s (its default is 60 s,
                where what a hang costs without hedging is twelve times longer)

Clients send streamed chat requests without pause, ``concurrency`` at a time. Per run: the
client's time to its first event (p50, p95, p99, p99.9, max), failed requests, attempts sent
upstream per request and hedges per request (the router's counters). Each simulator runs in a
process of its own; the router runs on uvicorn in this one. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "router", ROOT / "simulators"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import aiohttp  # noqa: E402
from bench.chaos.run import serving  # noqa: E402
from bench.harness.processes import free_port, percentile, wait_for_port  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from gptoss_router.http.app import create_app  # noqa: E402
from gptoss_router.settings import RouterSettings  # noqa: E402

MODEL = "gpt-oss-120b"
HOST = "127.0.0.1"
KEY = "bench-provider-key"
FIREWORKS_ID = "accounts/fireworks/models/gpt-oss-120b"
SIGMA = 0.55
HANG_EVERY = 40
STALL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Run:
    scenario: str
    hedging: bool
    requests: int
    failed: int
    p50_s: float
    p95_s: float
    p99_s: float
    p999_s: float
    max_s: float
    attempts_per_request: float
    hedges_per_request: float
    hedges_won: int
    seconds: float


@contextmanager
def simulator(args: list[str]) -> Iterator[str]:
    """One simulator in a process of its own; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gptoss_sim", *args, "--host", HOST, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT / "simulators",
    )
    try:
        wait_for_port(port)
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _provider(name: str, url: str) -> dict[str, Any]:
    price = {"input": 0.15, "output": 0.6}
    return {
        "name": name,
        "kind": "fireworks",
        "base_url": f"{url}/inference/v1",
        "key": KEY,
        "models": {MODEL: {"id": FIREWORKS_ID, "price": price}},
    }


def _settings(scenario: str, urls: list[str], hedging: bool) -> RouterSettings:
    tuning: dict[str, Any] = {"hedge_quantile": 0.95 if hedging else 0.0}
    if scenario == "providers":
        providers = [_provider(f"fireworks-{i}", url) for i, url in enumerate(urls)]
        models: dict[str, Any] = {MODEL: {"local": {"pods": []}}}
    else:
        providers = []
        models = {MODEL: {"local": {"pods": urls, "scrape": True}}}
        tuning["first_byte_timeout_s"] = STALL_TIMEOUT_S
    return RouterSettings(allow_anonymous=True, models=models, providers=providers, tuning=tuning)  # type: ignore[arg-type]


def _backends(scenario: str, stack: ExitStack) -> list[str]:
    if scenario == "providers":
        return [
            stack.enter_context(
                simulator(["fireworks", "--ttft-sigma", str(SIGMA), "--seed", str(seed)])
            )
            for seed in (1, 2, 3)
        ]
    pod = ["vllm", "--model", MODEL, "--startup-seconds", "0", "--step-base-s", "0.01"]
    hang = ["--fault", f"hang,every={HANG_EVERY},path=/v1/chat"]
    return [stack.enter_context(simulator(pod + hang)), stack.enter_context(simulator(pod))]


async def _load(url: str, requests: int, concurrency: int) -> tuple[list[float], int]:
    """Send ``requests`` streamed chat requests, ``concurrency`` at a time; the times to the
    first event of those answered, and how many failed."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16,
        "stream": True,
    }
    firsts: list[float] = []
    failed = 0
    sent = 0
    timeout = aiohttp.ClientTimeout(total=STALL_TIMEOUT_S * 6)

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal sent, failed
        while sent < requests:
            sent += 1
            started = time.perf_counter()
            try:
                async with http.post(f"{url}/v1/chat/completions", json=body) as response:
                    if response.status != 200:
                        failed += 1
                        await response.read()
                        continue
                    first: float | None = None
                    async for _ in response.content.iter_any():
                        if first is None:
                            first = time.perf_counter() - started
                    if first is not None:
                        firsts.append(first)
            except (aiohttp.ClientError, TimeoutError):
                failed += 1

    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return firsts, failed


def _counter(registry: CollectorRegistry, name: str) -> float:
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                total += sample.value
    return total


async def one_run(scenario: str, hedging: bool, requests: int, concurrency: int) -> Run:
    with ExitStack() as stack:
        urls = _backends(scenario, stack)
        registry = CollectorRegistry()
        app = create_app(_settings(scenario, urls, hedging), registry=registry)
        async with serving(app) as url:
            started = time.perf_counter()
            firsts, failed = await _load(url, requests, concurrency)
            seconds = time.perf_counter() - started
        retries = _counter(registry, "gptoss_router_retries_total")
        hedges = _counter(registry, "gptoss_router_hedges_total")
        won = _counter(registry, "gptoss_router_hedge_wins_total")
    firsts.sort()
    return Run(
        scenario=scenario,
        hedging=hedging,
        requests=requests,
        failed=failed,
        p50_s=percentile(firsts, 0.5),
        p95_s=percentile(firsts, 0.95),
        p99_s=percentile(firsts, 0.99),
        p999_s=percentile(firsts, 0.999),
        max_s=firsts[-1] if firsts else float("nan"),
        attempts_per_request=(requests + retries + hedges) / requests,
        hedges_per_request=hedges / requests,
        hedges_won=int(won),
        seconds=seconds,
    )


def _table(runs: list[Run]) -> str:
    lines = [
        f"{'scenario':10} {'hedging':8} {'p50':>7} {'p95':>7} {'p99':>7} {'p99.9':>7} "
        f"{'max':>7} {'failed':>6} {'attempts/req':>12} {'hedges':>7} {'won':>5}"
    ]
    for r in runs:
        lines.append(
            f"{r.scenario:10} {'on' if r.hedging else 'off':8} {r.p50_s:7.3f} {r.p95_s:7.3f} "
            f"{r.p99_s:7.3f} {r.p999_s:7.3f} {r.max_s:7.3f} {r.failed:6d} "
            f"{r.attempts_per_request:12.3f} {100 * r.hedges_per_request:6.1f}% {r.hedges_won:5d}"
        )
    for scenario in dict.fromkeys(r.scenario for r in runs):
        off, on = (
            next(r for r in runs if r.scenario == scenario and r.hedging == h) for h in (0, 1)
        )
        lines.append(
            f"{scenario}: with hedging p99 x{on.p99_s / off.p99_s:.2f}, "
            f"p99.9 x{on.p999_s / off.p999_s:.2f}, max x{on.max_s / off.max_s:.2f}, "
            f"p50 x{on.p50_s / off.p50_s:.2f}; attempts per request "
            f"+{100 * (on.attempts_per_request - off.attempts_per_request):.1f} %"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Run]:
    runs = []
    for scenario in ("providers", "stalls"):
        for hedging in (False, True):
            runs.append(await one_run(scenario, hedging, args.requests, args.concurrency))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    runs = asyncio.run(main_async(args))
    print(_table(runs))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")


if __name__ == "__main__":
    main()
