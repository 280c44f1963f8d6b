"""A whole chaos run: start the backends and the router, run the load through every fault on
every backend in turn, read the router's retry counters and time ejection and readmission."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from prometheus_client import CollectorRegistry

from gptoss_localkube.net import free_ports
from gptoss_router.http.app import RouterApp, create_app

from .backends import Backend, in_rotation, router_settings
from .load import Load
from .plan import FAULTS, HOST, ChaosPlan
from .report import Phase, Report

__all__ = ["run_chaos", "serving"]


@asynccontextmanager
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
