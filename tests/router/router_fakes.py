"""Test doubles for the router: settings builders, scripted upstreams, a lifespan runner."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from gptoss_router.app import create_app
from gptoss_router.settings import RouterSettings

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


@dataclass
class Upstreams:
    """Scripted upstreams by host; records what each received."""

    by_host: dict[str, Handler] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, Any], httpx.Headers]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.seen.append((request.url.host, request.url.path, body, request.headers))
        handler = self.by_host.get(request.url.host)
        if handler is None:
            raise httpx.ConnectError("no route to host", request=request)
        return handler(request)

    def hosts(self) -> list[str]:
        return [host for host, *_ in self.seen]


@asynccontextmanager
async def running_router(
    config: RouterSettings, upstreams: Upstreams, registry: CollectorRegistry | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, registry=registry, transport=httpx.MockTransport(upstreams.handle))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
            yield client
