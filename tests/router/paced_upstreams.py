"""Scripted upstreams that answer over time, and the router on uvicorn in front of them.

For tests where the pace of an answer matters: a client that leaves half way, a background
response cancelled while its upstream request runs, a stream whose reads end mid-event. Each
fake host (``pod-a.test``, ``groq.test``…) has a handler that writes its answer piece by piece
(``events``: bytes to send, or seconds to wait before the next); the router reaches them through
``LoopbackNames``, as in ``router_fakes``. A write that fails because the router closed the
connection is recorded in ``left``: the upstream saw the router go away.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from aiohttp import web
from live import LiveRouter, protocol_for
from prometheus_client import CollectorRegistry
from router_fakes import LoopbackNames

from gptoss_router.http.app import create_app
from gptoss_router.settings import RouterSettings

Handler = Callable[[web.BaseRequest, dict[str, Any]], Awaitable[web.StreamResponse]]
Piece = bytes | float


@dataclass
class Paced:
    """Upstreams by host name; what each was asked, and which saw the router leave."""

    by_host: dict[str, Handler]
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    async def serve(self, request: web.BaseRequest) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        host = request.host.split(":")[0]
        self.seen.append((host, request.path, body))
        try:
            answer = await self.by_host[host](request, body)
        except (ConnectionResetError, asyncio.CancelledError):
            self.left.append(host)
            raise
        self.finished.append(host)
        return answer

    def hosts(self) -> list[str]:
        return [host for host, *_ in self.seen]


async def events(request: web.BaseRequest, pieces: Sequence[Piece]) -> web.StreamResponse:
    """An event stream of ``pieces``: bytes are written as they are, a float is a pause."""
    response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for piece in pieces:
        if isinstance(piece, float):
            await asyncio.sleep(piece)
        else:
            await response.write(piece)
    await response.write_eof()
    return response


def event(doc: dict[str, Any] | str, name: str | None = None) -> bytes:
    """One SSE event carrying ``doc`` (a JSON document, or a string as it is)."""
    data = doc if isinstance(doc, str) else json.dumps(doc)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


@asynccontextmanager
async def paced_router(config: RouterSettings, upstreams: Paced) -> AsyncIterator[LiveRouter]:
    """The router on uvicorn (a real socket, so a client can leave) before ``upstreams``."""
    runner = web.ServerRunner(web.Server(upstreams.serve), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    registry = CollectorRegistry()
    app = create_app(
        config,
        registry=registry,
        resolver=LoopbackNames(upstreams.by_host, port),  # only its names are read
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, http=protocol_for(config), log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield LiveRouter(f"http://127.0.0.1:{sock.getsockname()[1]}", registry, app)
    finally:
        server.should_exit = True
        await task
        sock.close()
        await runner.cleanup()


@asynccontextmanager
async def paced_client(
    config: RouterSettings, upstreams: Paced, **client: Any
) -> AsyncIterator[tuple[LiveRouter, httpx.AsyncClient]]:
    """``paced_router``, and an HTTP client of it (``client``: its options)."""
    async with (
        paced_router(config, upstreams) as router,
        httpx.AsyncClient(base_url=router.base_url, **({"timeout": 10} | client)) as http,
    ):
        yield router, http
