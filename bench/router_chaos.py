"""Router chaos under a steady load: kill, hang, 5xx-storm and 429-storm each backend in turn.

    .venv/bin/python bench/router_chaos.py [--clients 12] [--fault-seconds 3] [--json PATH]

Three backends serve one model: two vLLM simulators (``pod-a``, ``pod-b``, at most 4 requests
each, so the rest spills) and a provider simulator (``fireworks``), each in its own process on
loopback. The router runs in this process on uvicorn; ``clients`` loops send streamed chat
requests to it without pause for the whole run. After a quiet baseline each backend in turn is

    kill   SIGKILLed (streams on it break), then started again on the same port
    hang   accepts requests and never answers
    5xx    answers 500 to everything
    429    answers 429 with Retry-After: 1 to everything

for ``fault_s`` seconds, then healed. Per phase (a request belongs to the phase it started in):

    failed      client-visible failures before the first byte (goal 0: another backend serves)
    in-band     streams that broke after their first byte and ended with an error event
                (counted in the phase they broke in)
    truncated   streams that ended with neither [DONE] nor an error event (goal 0)
    hung        requests with no end within ``hang_s`` (goal 0)
    retries     attempts after the first (the router's counter) per client request (goal <= 20 %)
    eject       seconds from the fault to the backend leaving rotation (stale, ejected or spent)
    readmit     seconds from the backend being healthy again to its return to rotation
                (``-``: it never left, or never came back within ``readmit_within_s``)

Figures are printed, not asserted; ``tests/router/test_chaos.py`` asserts the goals on a short
run. Traffic never leaves 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from prometheus_client import CollectorRegistry

from gptoss_localkube.net import free_ports
from gptoss_router.http.app import RouterApp, create_app
from gptoss_router.settings import RouterSettings

MODEL = "gpt-oss-120b"
HOST = "127.0.0.1"
PROVIDER_KEY = "fw-chaos-secret-5150"
FAULTS: dict[str, list[str]] = {
    "hang": ["hang"],
    "5xx": ["status=500"],
    "429": ["status=429,retry_after=1"],
}


@dataclass(frozen=True)
class ChaosPlan:
    clients: int = 12
    fault_s: float = 3.0
    settle_s: float = 0.5
    readmit_within_s: float = 10.0
    hang_s: float = 15.0
    max_tokens: int = 16
    backends: tuple[str, ...] = ("pod-a", "pod-b", "fireworks")
    faults: tuple[str, ...] = ("kill", "hang", "5xx", "429")


@dataclass
class Phase:
    backend: str
    fault: str
    requests: int = 0
    ok: int = 0
    failed: int = 0
    in_band: int = 0
    truncated: int = 0
    hung: int = 0
    retries: float = 0.0
    denied: float = 0.0
    eject_s: float | None = None
    readmit_s: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def retry_ratio(self) -> float:
        return self.retries / self.requests if self.requests else 0.0


@dataclass
class Report:
    phases: list[Phase]

    @property
    def faulted(self) -> list[Phase]:
        return [p for p in self.phases if p.fault != "none"]

    def total(self, name: str) -> float:
        return float(sum(getattr(p, name) for p in self.phases))

    @property
    def retry_ratio(self) -> float:
        requests = self.total("requests")
        return self.total("retries") / requests if requests else 0.0

    def table(self) -> str:
        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        head = (
            f"{'backend':<10} {'fault':<5} {'requests':>8} {'failed':>6} {'in-band':>7} "
            f"{'trunc':>5} {'hung':>4} {'retries':>7} {'eject s':>7} {'readmit s':>9}"
        )
        rows = [head]
        for p in self.phases:
            rows.append(
                f"{p.backend:<10} {p.fault:<5} {p.requests:>8} {p.failed:>6} {p.in_band:>7} "
                f"{p.truncated:>5} {p.hung:>4} {p.retry_ratio:>7.1%} {secs(p.eject_s):>7} "
                f"{secs(p.readmit_s):>9}"
            )
        rows.append(
            f"{'all':<10} {'':<5} {int(self.total('requests')):>8} {int(self.total('failed')):>6} "
            f"{int(self.total('in_band')):>7} {int(self.total('truncated')):>5} "
            f"{int(self.total('hung')):>4} {self.retry_ratio:>7.1%}"
        )
        return "\n".join(rows)


class Backend:
    """One simulator in its own process, which can be killed and started again."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self.local = name.startswith("pod")
        self.openai_url = self.base_url + ("/v1" if self.local else "/inference/v1")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        kind = ["vllm", "--model", MODEL, "--startup-seconds", "0", "--step-base-s", "0.01"]
        if not self.local:
            kind = ["fireworks", "--time-scale", "0.5"]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gptoss_sim", *kind, "--host", HOST, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    async def ready(self, http: aiohttp.ClientSession, within_s: float = 20.0) -> None:
        url = f"{self.base_url}/health" if self.local else f"{self.openai_url}/models"
        key = {"authorization": f"Bearer {PROVIDER_KEY}"}
        async with asyncio.timeout(within_s):
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url, headers=key) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def faults(self, http: aiohttp.ClientSession, rules: list[str]) -> None:
        async with http.put(f"{self.base_url}/_sim/faults", json=rules) as response:
            response.raise_for_status()


def router_settings(backends: dict[str, Backend]) -> RouterSettings:
    pods = [b.base_url for b in backends.values() if b.local]
    providers = [
        {
            "name": b.name,
            "kind": "fireworks",
            "base_url": b.openai_url,
            "key": PROVIDER_KEY,
            "models": {
                MODEL: {
                    "id": "accounts/fireworks/models/gpt-oss-120b",
                    "price": {"input": 0.15, "output": 0.6},
                }
            },
        }
        for b in backends.values()
        if not b.local
    ]
    return RouterSettings(
        allow_anonymous=True,
        models={
            MODEL: {"local": {"pods": pods, "max_inflight": 4, "max_queue_depth": 4}},
        },
        providers=providers,
        tuning={
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 0.75,
            "idle_timeout_s": 2.0,
            "base_ejection_s": 2.0,
            "max_ejection_s": 10.0,
            "probe_interval_s": 0.25,
            "scrape_interval_s": 0.1,
            "stale_after_s": 0.5,
        },
    )  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(app: RouterApp) -> AsyncIterator[str]:
    """The router on uvicorn (httptools) on a loopback port of its own; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="httptools", log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def in_rotation(app: RouterApp, backend: Backend) -> bool:
    """Whether the router would plan ``backend`` now."""
    backends = app.state.shared.backends
    if backend.local:
        pod = backends.pools.get(MODEL, backend.base_url)
        if pod is None:
            return False
        view = backends.pod_view(pod, scraped=True)
        return view.fresh and not view.ejected
    return not backends.health.is_ejected(backend.name) and not backends.limits.is_spent(
        backend.name
    )


class Load:
    """``clients`` loops of streamed requests; each outcome goes to the phase it started in."""

    def __init__(self, url: str, plan: ChaosPlan) -> None:
        self._url = f"{url}/v1/chat/completions"
        self._plan = plan
        self._body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Count to ten."}],
            "stream": True,
            "max_tokens": plan.max_tokens,
        }
        self.phase = Phase("-", "none")
        self._stop = asyncio.Event()

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(self._client(http) for _ in range(self._plan.clients)))

    def stop(self) -> None:
        self._stop.set()

    async def _client(self, http: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            phase = self.phase
            phase.requests += 1
            await self._one(http, phase)

    async def _one(self, http: aiohttp.ClientSession, phase: Phase) -> None:
        status = 0
        text = b""
        try:
            async with asyncio.timeout(self._plan.hang_s):
                async with http.post(self._url, json=self._body) as response:
                    status = response.status
                    if status != 200:
                        phase.failed += 1
                        key = str(status)
                        phase.statuses[key] = phase.statuses.get(key, 0) + 1
                        await response.read()
                        return
                    async for chunk in response.content.iter_any():
                        text += chunk
        except TimeoutError:
            phase.hung += 1
            return
        except aiohttp.ClientError:
            if status == 0:
                phase.failed += 1
                phase.statuses["no answer"] = phase.statuses.get("no answer", 0) + 1
                return
        if b"data: [DONE]" in text:
            phase.ok += 1
        elif b'"error"' in text:
            self.phase.in_band += 1
        else:
            self.phase.truncated += 1


def _counter(registry: CollectorRegistry, name: str) -> float:
    total = 0.0
    for metric in registry.collect():
        if metric.name == name:
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def _retries(registry: CollectorRegistry) -> float:
    return _counter(registry, "gptoss_router_retries")


async def _first(condition: Callable[[], bool], within_s: float) -> float | None:
    """Seconds until ``condition()`` holds (polled every 10 ms), None if not within the limit."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if condition():
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    return None


async def _phase(
    app: RouterApp,
    load: Load,
    backend: Backend,
    fault: str,
    plan: ChaosPlan,
    http: aiohttp.ClientSession,
    registry: CollectorRegistry,
) -> Phase:
    phase = Phase(backend.name, fault)
    retries_before = _retries(registry)
    denied_before = _counter(registry, "gptoss_router_retry_budget_exhausted")
    load.phase = phase
    started = time.monotonic()
    if fault == "kill":
        backend.kill()
    else:
        await backend.faults(http, FAULTS[fault])
    phase.eject_s = await _first(lambda: not in_rotation(app, backend), plan.fault_s)
    await asyncio.sleep(max(0.0, started + plan.fault_s - time.monotonic()))
    if fault == "kill":
        backend.start()
        await backend.ready(http)
    else:
        await backend.faults(http, [])
    back = await _first(lambda: in_rotation(app, backend), plan.readmit_within_s)
    phase.readmit_s = back if phase.eject_s is not None else None
    await asyncio.sleep(plan.settle_s)
    phase.retries = _retries(registry) - retries_before
    phase.denied = _counter(registry, "gptoss_router_retry_budget_exhausted") - denied_before
    return phase


async def run_chaos(plan: ChaosPlan) -> Report:
    """Start the backends and the router, run the load through every fault, stop everything."""
    ports = free_ports(len(plan.backends), HOST)
    backends = {name: Backend(name, port) for name, port in zip(plan.backends, ports, strict=True)}
    registry = CollectorRegistry()
    phases: list[Phase] = []
    try:
        for backend in backends.values():
            backend.start()
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(b.ready(http) for b in backends.values()))
            app = create_app(router_settings(backends), registry=registry)
            async with serving(app) as url:
                await _first(lambda: all(in_rotation(app, b) for b in backends.values()), 10.0)
                load = Load(url, plan)
                running = asyncio.create_task(load.run())
                baseline = Phase("-", "none")
                load.phase = baseline
                await asyncio.sleep(plan.fault_s)
                baseline.retries = _retries(registry)
                phases.append(baseline)
                for backend in backends.values():
                    for fault in plan.faults:
                        phases.append(await _phase(app, load, backend, fault, plan, http, registry))
                load.stop()
                async with asyncio.timeout(plan.hang_s + 5):
                    await running
    finally:
        for backend in backends.values():
            backend.kill()
    return Report(phases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=ChaosPlan.clients)
    parser.add_argument("--fault-seconds", type=float, default=ChaosPlan.fault_s)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    plan = ChaosPlan(clients=args.clients, fault_s=args.fault_seconds)
    report = asyncio.run(run_chaos(plan))
    print(report.table())
    if args.json:
        phases = [asdict(p) for p in report.phases]
        figures: dict[str, Any] = {"plan": asdict(plan), "phases": phases}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
