"""The Starlette application and its lifespan, which owns every long-lived resource.

``create_app(settings)`` builds the routes; the lifespan opens the one upstream
``aiohttp.ClientSession`` (``session.py``), fills the local pools, starts the scraper, the
prober and discovery, and closes them all on shutdown. Nothing lives at module level.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp.abc import AbstractResolver
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gptoss_router.http.conversations import conversation_routes
from gptoss_router.http.resources import not_found_handlers, resource_routes
from gptoss_router.http.routes import info_routes
from gptoss_router.http.state import State
from gptoss_router.http.store import open_store
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.inbound import Route as ApiRoute
from gptoss_router.proxy.accounting import Shared
from gptoss_router.proxy.asgi import GENERATING, send_answer
from gptoss_router.proxy.handler import Proxy
from gptoss_router.proxy.responses import Turns
from gptoss_router.proxy.session import open_session
from gptoss_router.routing.access import AppKeys
from gptoss_router.routing.admission import Admission
from gptoss_router.routing.backends import Backends
from gptoss_router.routing.retry_budget import RetryBudget
from gptoss_router.settings import RouterSettings
from gptoss_router.state.cancels import Cancels
from gptoss_router.state.conversations import ConversationRecords
from gptoss_router.state.event_logs import EventLogs
from gptoss_router.state.pools import Pod
from gptoss_router.state.responses import ResponseRecords
from gptoss_router.watch.discovery import Discovery, StaticDiscovery, discovery_for
from gptoss_router.watch.pod_metrics import scrape_forever
from gptoss_router.watch.probes import probe_forever
from gptoss_router.watch.store_sync import StoreSync
from gptoss_router.watch.warming import warm_forever

__all__ = ["RouterApp", "create_app", "stop_tasks"]

log = logging.getLogger(__name__)
Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]


class RouterApp:
    """The ASGI app: POSTs to the generating routes go straight to the proxy, the rest (and the
    lifespan) to Starlette."""

    def __init__(self, *, info: list[Route], lifespan: Lifespan) -> None:
        self._generating = {path: _Generating(self, route) for path, route in GENERATING.items()}
        # Reached for the generating paths only with other methods, which answers 405.
        posts = [Route(path, app, methods=["POST"]) for path, app in self._generating.items()]
        self.starlette = Starlette(
            routes=[*posts, *info], lifespan=lifespan, exception_handlers=not_found_handlers()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._generating.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    @property
    def state(self) -> State:
        """What the lifespan built (AttributeError before it ran)."""
        state: State = self.starlette.state.router
        return state

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Start and stop the router outside a server (tests)."""
        return self.starlette.router.lifespan_context(self.starlette)


class _Generating:
    __slots__ = ("_front", "_route")

    def __init__(self, front: RouterApp, route: ApiRoute) -> None:
        self._front = front
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._front.state.proxy.handle(self._route, scope, receive)
        await send_answer(answer, send, receive)


def create_app(
    settings: RouterSettings,
    *,
    registry: CollectorRegistry | None = None,
    discovery: Discovery | None = None,
    resolver: AbstractResolver | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RouterApp:
    """The router as an ASGI app; ``resolver`` replaces DNS (tests name loopback servers)."""
    metrics = RouterMetrics(registry if registry is not None else CollectorRegistry())
    keys = AppKeys(settings.apps, allow_anonymous=settings.allow_anonymous)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backends = Backends(settings, clock=clock, rng=random.Random())  # noqa: S311 - load spreading, not secrecy
        static = StaticDiscovery(settings)
        static.fill(backends.pools)
        _log_access(keys)
        async with open_store(settings, metrics, clock) as (store, health):
            sync = StoreSync(
                replica=f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
                store=store,
                health=health,
                backends=backends,
                admission=Admission(
                    settings.apps,
                    store,
                    health,
                    metrics,
                    config=settings.store,
                    replicas=lambda: sync.replicas,
                ),
                metrics=metrics,
                interval_s=settings.store.sync_interval_s if settings.store else 0.5,
                stale_after_s=settings.tuning.stale_after_s,
                clock=clock,
            )
            shared = Shared(
                backends,
                metrics,
                RetryBudget(
                    ratio=settings.tuning.retry_budget_ratio,
                    minimum=settings.tuning.retry_budget_min,
                ),
                sync.admission,
            )
            records = ResponseRecords(
                store,
                health,
                ttl_s=settings.tuning.responses_ttl_s,
                max_bytes=settings.tuning.responses_max_bytes,
            )
            conversations = ConversationRecords(
                store,
                health,
                ttl_s=settings.tuning.responses_ttl_s,
                max_bytes=settings.tuning.responses_max_bytes,
            )
            events = EventLogs(store, health, ttl_s=settings.tuning.responses_ttl_s)
            app.state.conversations = conversations  # read by http/conversations.py
            async with open_session(resolver) as session:
                proxy = Proxy(shared, keys, session, Turns(records, conversations, events=events))
                cancels = Cancels(store, health)
                cancels.follow(proxy.cancel)
                app.state.router = State(
                    settings,
                    shared,
                    proxy,
                    int(time.time()),
                    session,
                    health,
                    records,
                    events,
                    cancels,
                )
                follow = discovery if discovery is not None else discovery_for(settings)
                tasks = _background(session, backends, settings, follow, metrics)
                tasks.append(asyncio.create_task(sync.run(), name="gptoss-store-sync"))
                try:
                    yield
                finally:
                    await app.state.router.proxy.stop_background()
                    await stop_tasks(tasks)
                    await sync.once()  # the last spend and benches reach the store
                    await sync.admission.close()

    routes = [*info_routes(keys, metrics), *resource_routes(keys), *conversation_routes(keys)]
    return RouterApp(info=routes, lifespan=lifespan)


def _log_access(keys: AppKeys) -> None:
    if keys.anonymous:
        log.warning("anonymous access is on (allow_anonymous): every caller is accepted")
    elif keys.empty:
        log.warning(
            "no apps are configured and anonymous access is off: every request gets 401 "
            "(configure apps, or set allow_anonymous for a router nobody else can reach)"
        )


def _background(
    session: aiohttp.ClientSession,
    backends: Backends,
    settings: RouterSettings,
    discovery: Discovery | None,
    metrics: RouterMetrics,
) -> list[asyncio.Task[None]]:
    tuning = settings.tuning

    def scraped(pod: Pod) -> bool:
        model = backends.models.get(pod.model)
        return model is not None and model.local.scrape

    tasks = [
        asyncio.create_task(
            scrape_forever(
                session, backends.pools, interval_s=tuning.scrape_interval_s, scraped=scraped
            ),
            name="gptoss-scrape",
        ),
        asyncio.create_task(
            probe_forever(session, backends, interval_s=tuning.probe_interval_s),
            name="gptoss-probe",
        ),
    ]
    if discovery is not None:
        running = discovery.run(backends.pools, backends.models)
        tasks.append(asyncio.create_task(running, name="gptoss-discovery"))
    if tuning.warm_prefixes:
        warming = warm_forever(
            session,
            backends,
            metrics,
            most=tuning.warm_prefixes,
            timeout_s=tuning.warm_timeout_s,
        )
        tasks.append(asyncio.create_task(warming, name="gptoss-warming"))
    return tasks


async def stop_tasks(tasks: list[asyncio.Task[None]], *, rounds: int = 5) -> None:
    """Cancel ``tasks`` and wait for them to end, a second at a time, cancelling again those
    still running (a cancel a library swallowed); give up on any left after ``rounds``."""
    for _ in range(rounds):
        for task in tasks:
            task.cancel()
        _, running = await asyncio.wait(tasks, timeout=1.0)
        tasks = list(running)
        if not tasks:
            return
    log.error("stopping: %s did not end", ", ".join(sorted(t.get_name() for t in tasks)))
