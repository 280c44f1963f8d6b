"""The Starlette application and its lifespan, which owns every long-lived resource.

``create_app(settings)`` builds the routes; the lifespan opens the one upstream
``httpx.AsyncClient``, fills the local pools, starts the scraper, the prober and discovery,
and closes them all on shutdown. Nothing lives at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gptoss_router.access import AppKeys
from gptoss_router.budget import RetryBudget
from gptoss_router.discovery import Discovery, StaticDiscovery
from gptoss_router.endpoints import info_routes
from gptoss_router.inbound import Route as ApiRoute
from gptoss_router.ledger import Shared
from gptoss_router.metrics import RouterMetrics
from gptoss_router.podstats import scrape_forever
from gptoss_router.pools import Pod
from gptoss_router.probes import probe_forever
from gptoss_router.proxy import Proxy
from gptoss_router.registry import Registry
from gptoss_router.settings import RouterSettings

__all__ = ["State", "create_app"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class State:
    """What the lifespan built, shared by the route handlers through ``app.state.router``."""

    settings: RouterSettings
    shared: Shared
    proxy: Proxy
    started_at: int


def create_app(
    settings: RouterSettings,
    *,
    registry: CollectorRegistry | None = None,
    discovery: Discovery | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The router as an ASGI app; ``transport`` replaces the network in tests."""
    metrics = RouterMetrics(registry if registry is not None else CollectorRegistry())
    keys = AppKeys(settings.apps)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = Registry(settings, clock=clock, rng=random.Random())  # noqa: S311 - load spreading, not secrecy
        static = StaticDiscovery(settings)
        static.fill(backends.pools)
        shared = Shared(
            backends,
            metrics,
            RetryBudget(
                ratio=settings.tuning.retry_budget_ratio, minimum=settings.tuning.retry_budget_min
            ),
        )
        if keys.open:
            log.warning("no apps configured: every caller is accepted")
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=1024)
        async with httpx.AsyncClient(transport=transport, limits=limits, trust_env=False) as client:
            app.state.router = State(
                settings, shared, Proxy(shared, keys, client), int(time.time())
            )
            tasks = _background(client, backends, settings, discovery)
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def generating(route: ApiRoute) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            state: State = request.app.state.router
            return await state.proxy.handle(route, request)

        return endpoint

    routes = [
        Route("/v1/chat/completions", generating("chat"), methods=["POST"]),
        Route("/v1/completions", generating("completions"), methods=["POST"]),
        Route("/v1/responses", generating("responses"), methods=["POST"]),
        *info_routes(keys, metrics),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _background(
    client: httpx.AsyncClient,
    backends: Registry,
    settings: RouterSettings,
    discovery: Discovery | None,
) -> list[asyncio.Task[None]]:
    tuning = settings.tuning

    def scraped(pod: Pod) -> bool:
        model = settings.models.get(pod.model)
        return model is not None and model.local.scrape

    tasks = [
        asyncio.create_task(
            scrape_forever(
                client, backends.pools, interval_s=tuning.scrape_interval_s, scraped=scraped
            )
        ),
        asyncio.create_task(probe_forever(client, backends, interval_s=tuning.probe_interval_s)),
    ]
    if discovery is not None:
        tasks.append(asyncio.create_task(discovery.run(backends.pools)))
    return tasks
