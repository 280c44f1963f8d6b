"""Test doubles for the router: settings builders, scripted upstreams, a lifespan runner.

Scripted upstreams are real: one loopback HTTP server answers for every fake host name
(``pod-a.test``, ``groq.test``…), each name with its own handler, and the router's session is
given a resolver that points those names at it. A name without a handler does not resolve, so
the router sees a connect error, as it would for a host that is down.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from prometheus_client import CollectorRegistry

from gptoss_router.http.app import create_app
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.routing.backends import Backends
from gptoss_router.settings import RouterSettings
from gptoss_router.state.store import Store
from gptoss_router.state.store_health import StoreHealth
from gptoss_router.watch.store_sync import StoreSync

MODEL = "gpt-oss-120b"
GROQ_KEY = "gsk-test-secret-0123456789"
FIREWORKS_KEY = "fw-test-secret-9876543210"
APP_KEY = "app-test-secret-abcdef"


def provider(
    name: str, kind: str, *, price_out: float, key: str, model_id: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "base_url": f"http://{name}.test/v1",
        "key": key,
        "models": {MODEL: {"id": model_id, "price": {"input": 0.15, "output": price_out}}},
        **extra,
    }


def settings(
    *,
    pods: list[str] | None = None,
    apps: list[dict[str, Any]] | None = None,
    spillover: dict[str, Any] | None = None,
    tuning: dict[str, Any] | None = None,
    providers: list[dict[str, Any]] | None = None,
    scrape: bool = False,
) -> RouterSettings:
    return RouterSettings(
        models={
            MODEL: {
                "local": {
                    "pods": ["http://pod-a.test:8000"] if pods is None else pods,
                    "scrape": scrape,
                    "max_queue_depth": 1,
                },
                "spillover": spillover or {},
            }
        },
        providers=providers
        if providers is not None
        else [
            provider("groq", "groq", price_out=0.6, key=GROQ_KEY, model_id="openai/gpt-oss-120b"),
            provider(
                "fireworks",
                "fireworks",
                price_out=0.9,
                key=FIREWORKS_KEY,
                model_id="accounts/fireworks/models/gpt-oss-120b",
            ),
        ],
        apps=apps or [],
        allow_anonymous=not apps,
        tuning={
            "connect_timeout_s": 1.0,
            "first_byte_timeout_s": 1.0,
            "response_timeout_s": 1.0,
            "idle_timeout_s": 0.5,
            "probe_interval_s": 60,
            "scrape_interval_s": 60,
            **(tuning or {}),
        },
    )  # type: ignore[arg-type]


Handler = Callable[[httpx.Request], httpx.Response]


def sync_loop(
    store: Store,
    gate: Admission,
    metrics: RouterMetrics,
    *,
    clock: Callable[[], float],
    wall: Callable[[], float] = time.time,
) -> StoreSync:
    """The store sync loop of a replica ``r1`` with no pods (run a round with ``once``)."""
    return StoreSync(
        "r1",
        store,
        StoreHealth(metrics, clock=clock),
        Backends(settings(), clock=clock, rng=random.Random(0)),  # noqa: S311 - test jitter
        gate,
        metrics,
        interval_s=0.2,
        stale_after_s=3.0,
        clock=clock,
        wall=wall,
    )


# A Responses answer a backend completed: one message saying "hi".
COMPLETED_RESPONSE: dict[str, Any] = {
    "id": "resp_upstream",
    "object": "response",
    "status": "completed",
    "model": MODEL,
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
}


def chat_reply(
    model: str, *, content: str = "hello", reasoning_field: str = "reasoning"
) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": content,
                        reasoning_field: "thinking",
                    },
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        },
    )


def sse(*events: dict[str, Any] | str) -> bytes:
    return b"".join(
        b"data: " + (e.encode() if isinstance(e, str) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )


def as_stream(answer: httpx.Response, *, usage: bool) -> httpx.Response:
    """A scripted whole answer as the stream a real backend sends when asked for one (answers
    that are streams, errors or not JSON already are left as they are)."""
    if answer.status_code != 200 or "json" not in answer.headers.get("content-type", ""):
        return answer
    doc = answer.json()
    if doc.get("object") == "response":
        events = [
            {
                "type": "response.created",
                "response": {**doc, "status": "in_progress", "output": []},
            },
            {"type": "response.completed", "response": doc},
        ]
        data = b"".join(
            b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
            for e in events
        )
        return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})
    kind = {"chat.completion": "chat.completion.chunk", "text_completion": "text_completion"}
    if doc.get("object") not in kind:
        return answer
    head = {k: doc[k] for k in ("id", "created", "model") if k in doc}
    head["object"] = kind[doc["object"]]
    chunks: list[dict[str, Any] | str] = []
    for choice in doc.get("choices", []):
        index = choice.get("index", 0)
        if doc["object"] == "text_completion":
            pieces = [
                {"index": index, "text": choice.get("text", ""), "logprobs": choice.get("logprobs")}
            ]
        else:
            message = choice.get("message", {})
            pieces = [{"index": index, "delta": {"role": "assistant", "content": ""}}]
            pieces += [
                {"index": index, "delta": {name: value}}
                for name, value in message.items()
                if name not in ("role", "tool_calls") and value is not None
            ]
            for n, call in enumerate(message.get("tool_calls") or []):
                pieces.append({"index": index, "delta": {"tool_calls": [{"index": n, **call}]}})
        pieces[-1] = {**pieces[-1], "finish_reason": choice.get("finish_reason")}
        chunks += [{**head, "choices": [piece]} for piece in pieces]
    if usage and doc.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": doc["usage"]})
    chunks.append("[DONE]")
    return httpx.Response(200, content=sse(*chunks), headers={"content-type": "text/event-stream"})


@dataclass
class Upstreams:
    """Scripted upstreams by host; records what each received."""

    by_host: dict[str, Handler] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, Any], httpx.Headers]] = field(default_factory=list)

    async def serve(self, incoming: web.BaseRequest) -> web.Response:
        request = httpx.Request(
            incoming.method,
            f"http://{incoming.host}{incoming.path}",
            headers=list(incoming.headers.items()),
            content=await incoming.read(),
        )
        body = json.loads(request.content) if request.content else {}
        self.seen.append((request.url.host, request.url.path, body, request.headers))
        answer = self.by_host[request.url.host](request)
        if body.get("stream") is True:
            answer = as_stream(
                answer, usage=bool((body.get("stream_options") or {}).get("include_usage"))
            )
        headers = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        }
        return web.Response(status=answer.status_code, body=answer.content, headers=headers)

    def hosts(self) -> list[str]:
        return [host for host, *_ in self.seen]


class LoopbackNames(AbstractResolver):
    """Resolves the scripted host names to the one loopback server; others do not resolve."""

    def __init__(self, names: dict[str, Handler], port: int) -> None:
        self._names = names
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._names:
            raise OSError(f"{host} does not resolve")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self._port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


@asynccontextmanager
async def serving(upstreams: Upstreams) -> AsyncIterator[LoopbackNames]:
    """Serve ``upstreams`` on loopback; yield the resolver that reaches them."""
    runner = web.ServerRunner(web.Server(upstreams.serve), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        _, port = runner.addresses[0][:2]
        yield LoopbackNames(upstreams.by_host, port)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_router(
    config: RouterSettings, upstreams: Upstreams, registry: CollectorRegistry | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(upstreams) as names:
        app = create_app(config, registry=registry, resolver=names)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://router.test"
            ) as client:
                yield client
