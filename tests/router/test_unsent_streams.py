"""A streamed answer whose head never reached the client (the send raised, or the task was
cancelled while it waited: a replica shutting down) still gives its pod back, is counted once as
cancelled and closes its upstream response, though its stream never started."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
import httpx
import pytest
from aiohttp import web
from paced_upstreams import Paced
from prometheus_client import CollectorRegistry
from router_fakes import (
    COMPLETED_RESPONSE,
    MODEL,
    LoopbackNames,
    as_stream,
    chat_reply,
    settings,
)
from starlette.types import Message

from gptoss_router.http.app import RouterApp, create_app
from gptoss_router.openai.openings import is_opening
from gptoss_router.openai.sse import EventSplitter

pytestmark = pytest.mark.timeout(30)

Sending = Literal["ok", "raises", "cancelled"]
Path = Literal["/v1/chat/completions", "/v1/responses"]

RESPONSE = COMPLETED_RESPONSE
BODIES: dict[Path, dict[str, Any]] = {
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"input": "hi"},
}


def _up_to_output(stream: bytes) -> bytes:
    """``stream``'s events up to its first output event, that one included."""
    head = b""
    for event in EventSplitter().feed(stream):
        head += event
        if not is_opening(event):
            break
    return head


class Stalling:
    """A pod that streams its answer up to its first output event, then waits for ``go`` to send the
    rest: a stream the router holds open until it reads it to its end or closes it."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.upstreams = Paced({"pod-a.test": self.answer})

    async def answer(self, request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        whole = RESPONSE if request.path.endswith("/responses") else chat_reply(MODEL).json()
        scripted = as_stream(httpx.Response(200, json=whole), usage=True).content
        first = _up_to_output(scripted)  # the answer has begun: the router commits
        rest = scripted[len(first) :]
        response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(first)
        await self.go.wait()
        await response.write(rest)
        await response.write_eof()
        return response

    @asynccontextmanager
    async def router(self, registry: CollectorRegistry) -> AsyncIterator[RouterApp]:
        runner = web.ServerRunner(web.Server(self.upstreams.serve), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        names = LoopbackNames(self.upstreams.by_host, runner.addresses[0][1])  # names only
        app = create_app(settings(), registry=registry, resolver=names)
        try:
            async with app.lifespan():
                yield app
        finally:
            self.go.set()
            await runner.cleanup()


def _scope(path: Path, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "root_path": "",
        "server": ("router.test", 80),
        "client": ("127.0.0.1", 1),
    }


async def _ask(app: RouterApp, path: Path, sending: Sending) -> list[Message]:
    """One streamed request to ``app`` whose send behaves as ``sending`` at the answer's head;
    the messages it was given."""
    body = json.dumps({"model": MODEL, "stream": True, **BODIES[path]}).encode()
    asked, gone, at_head = False, asyncio.Event(), asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] != "http.response.start" or sending == "ok":
            return
        if sending == "raises":
            raise OSError("the connection was reset while the head was written")
        at_head.set()
        await asyncio.Event().wait()  # a client that reads nothing: the write waits

    task = asyncio.create_task(app(_scope(path, body), receive, send))
    if sending == "cancelled":
        await at_head.wait()
        task.cancel()
    try:
        await task
    except (OSError, asyncio.CancelledError):
        assert sending != "ok"
    gone.set()
    return sent


def _requests(registry: CollectorRegistry, outcome: str) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "gptoss_router_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["outcome"] == outcome
    )


def _connections_in_use(app: RouterApp) -> int:
    """Upstream connections the router has checked out of its pool right now."""
    connector = app.state.session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    return len(connector._acquired)  # aiohttp keeps no public count


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
@pytest.mark.parametrize("sending", ["raises", "cancelled"])
async def test_a_stream_whose_head_was_never_sent_frees_its_pod_and_counts_cancelled_once(
    path: Path, sending: Sending
) -> None:
    pod_a, registry = Stalling(), CollectorRegistry()
    async with pod_a.router(registry) as app:
        sent = await _ask(app, path, sending)
        assert [m["type"] for m in sent] == ["http.response.start"]
        assert pod_a.upstreams.hosts() == ["pod-a.test"]
        (pod,) = app.state.shared.backends.pools.pods(MODEL)
        assert pod.inflight == 0
        assert _requests(registry, "cancelled") == 1
        assert _requests(registry, "ok") == 0
        assert _connections_in_use(app) == 0  # the upstream stream was closed, not left open


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
async def test_a_stream_sent_whole_is_still_counted_ok_once(path: Path) -> None:
    pod_a, registry = Stalling(), CollectorRegistry()
    pod_a.go.set()
    async with pod_a.router(registry) as app:
        sent = await _ask(app, path, "ok")
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        (pod,) = app.state.shared.backends.pools.pods(MODEL)
        assert pod.inflight == 0
        assert _requests(registry, "ok") == 1
        assert _requests(registry, "cancelled") == 0
        assert _connections_in_use(app) == 0
