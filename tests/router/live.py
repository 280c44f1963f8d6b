"""Running the router for real (uvicorn, httptools) next to the simulators, for SDK tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from gptoss_router.http.app import RouterApp, create_app
from gptoss_router.http.wire import limited_protocol
from gptoss_router.settings import RouterSettings
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import parse_rule
from gptoss_sim.providers.app import ProviderConfig, ProviderSim
from gptoss_sim.providers.profiles import FIREWORKS, GROQ, TOGETHER, ProviderProfile
from gptoss_sim.server import Running, running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

KEYS = {
    "groq": "gsk-live-secret-111",
    "fireworks": "fw-live-secret-222",
    "together": "tg-live-secret-333",
}
PROFILES: dict[str, ProviderProfile] = {"groq": GROQ, "fireworks": FIREWORKS, "together": TOGETHER}
MODEL_IDS = {
    "groq": {"gpt-oss-120b": "openai/gpt-oss-120b", "gpt-oss-20b": "openai/gpt-oss-20b"},
    "fireworks": {
        "gpt-oss-120b": "accounts/fireworks/models/gpt-oss-120b",
        "gpt-oss-20b": "accounts/fireworks/models/gpt-oss-20b",
    },
    "together": {"gpt-oss-120b": "openai/gpt-oss-120b", "gpt-oss-20b": "openai/gpt-oss-20b"},
}


@dataclass
class Fleet:
    """Simulators by name: ``local`` (vLLM) and the providers."""

    vllm: VllmSim
    local: Running
    providers: dict[str, Running]
    provider_sims: dict[str, ProviderSim]


@contextmanager
def fleet(
    *,
    local_faults: tuple[str, ...] = (),
    provider_faults: dict[str, tuple[str, ...]] | None = None,
    step_s: float = 0.002,
    max_num_seqs: int = 64,
    time_scale: float = 0.02,
) -> Iterator[Fleet]:
    capacity = CapacityParams(
        startup_s=0, step_base_s=step_s, step_per_seq_s=0.0, max_num_seqs=max_num_seqs
    )
    vllm = VllmSim(
        VllmConfig(
            model="gpt-oss-120b",
            capacity=capacity,
            faults=tuple(parse_rule(f) for f in local_faults),
        )
    )
    with ExitStack() as stack:
        local = stack.enter_context(running(vllm))
        sims = {
            name: ProviderSim(
                ProviderConfig(
                    profile,
                    time_scale=time_scale,
                    faults=tuple(parse_rule(f) for f in (provider_faults or {}).get(name, ())),
                )
            )
            for name, profile in PROFILES.items()
        }
        providers = {name: stack.enter_context(running(sim)) for name, sim in sims.items()}
        yield Fleet(vllm, local, providers, sims)


def provider_entries(
    found: Fleet,
    *,
    model: str = "gpt-oss-120b",
    prices: dict[str, tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """Router configuration entries for the fleet's provider simulators."""
    prices = prices or {}
    return [
        {
            "name": name,
            "kind": name,
            "base_url": running_.openai_base_url,
            "key": KEYS[name],
            "models": {
                model: {
                    "id": MODEL_IDS[name][model],
                    "price": dict(
                        zip(("input", "output"), prices.get(name, (0.15, 0.60)), strict=True)
                    ),
                }
            },
            "expected_ttft_s": PROFILES[name].ttft_s,
            "expected_tokens_per_s": PROFILES[name].tokens_per_s,
        }
        for name, running_ in found.providers.items()
    ]


def router_settings(
    found: Fleet,
    *,
    model: str = "gpt-oss-120b",
    local: dict[str, Any] | None = None,
    spillover: dict[str, Any] | None = None,
    apps: list[dict[str, Any]] | None = None,
    tuning: dict[str, Any] | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
) -> RouterSettings:
    return RouterSettings(
        models={
            model: {
                "local": {"pods": [found.local.base_url], "scrape": True, **(local or {})},
                "spillover": spillover or {},
            }
        },
        providers=provider_entries(found, model=model, prices=prices),
        apps=apps or [],
        allow_anonymous=not apps,
        tuning={
            "first_byte_timeout_s": 2.0,
            "idle_timeout_s": 2.0,
            "scrape_interval_s": 0.05,
            "stale_after_s": 1.0,
            **(tuning or {}),
        },
    )  # type: ignore[arg-type]


@dataclass
class LiveRouter:
    base_url: str
    registry: CollectorRegistry
    app: RouterApp


@asynccontextmanager
async def live_router(config: RouterSettings) -> AsyncIterator[LiveRouter]:
    registry = CollectorRegistry()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(config, registry=registry)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=protocol_for(config),
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield LiveRouter(f"http://127.0.0.1:{port}", registry, app)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def eventually(probe: Callable[[], Awaitable[object]], *, what: str, within: float) -> Any:
    """The first truthy ``await probe()``, polled until ``within`` seconds have passed.

    The deadline is also checked between probes: in Python 3.11 an ``asyncio.wait_for`` inside
    the probe can swallow the timeout's cancellation (when its own call ends at that moment),
    and the poll would then go on for ever."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        async with asyncio.timeout(within):
            while loop.time() < deadline:
                found = await probe()
                if found:
                    return found
                await asyncio.sleep(0.02)
    except TimeoutError:
        pass
    raise AssertionError(f"{what} did not happen within {within} s")


def protocol_for(config: RouterSettings) -> type[asyncio.Protocol]:
    """The HTTP protocol the router's command line serves with."""
    return limited_protocol(
        max_header_bytes=config.tuning.max_header_bytes,
        header_timeout_s=config.tuning.header_timeout_s,
    )


@contextmanager
def router_in_thread(config: RouterSettings) -> Iterator[tuple[str, CollectorRegistry]]:
    """The router on uvicorn in a thread and loop of its own, for synchronous clients."""
    registry = CollectorRegistry()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, registry=registry),
            http=protocol_for(config),
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert server.started, "the router did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", registry
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
