"""A backend that refuses a request (a 4xx the caller caused, passed on as it is) answered it,
but a refusal says nothing of how fast or how healthy the backend is: it takes no time to first
token sample, ends no run of failures and is no spill, while the request still ends on that
backend (its in-flight count given back, its ticket settled)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, chat_reply, serving, settings

from gptoss_router.http.app import RouterApp, create_app
from gptoss_router.settings import RouterSettings
from gptoss_router.state.speed import SpeedEstimate

pytestmark = pytest.mark.timeout(60)

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
TOO_LONG = {"error": {"message": "context too long", "type": "invalid_request_error"}}


def _refusal(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json=TOO_LONG)


def _failure(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "engine down"}})


def _in_turn(*answers: Callable[[httpx.Request], httpx.Response]) -> Any:
    """A handler that answers with each of ``answers`` in turn."""
    turns: Iterator[Callable[[httpx.Request], httpx.Response]] = iter(answers)
    return lambda request: next(turns)(request)


@asynccontextmanager
async def _router(
    config: RouterSettings, upstreams: Upstreams
) -> AsyncIterator[tuple[httpx.AsyncClient, RouterApp, CollectorRegistry]]:
    """The router before ``upstreams``, its app (for its shared state) and its metrics."""
    registry = CollectorRegistry()
    async with serving(upstreams) as names:
        app = create_app(config, registry=registry, resolver=names)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r.test") as client:
                yield client, app, registry


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_provider_that_refuses_a_request_keeps_its_time_to_first_token() -> None:
    upstreams = Upstreams({"groq.test": _refusal})
    async with _router(settings(pods=[]), upstreams) as (client, app, registry):
        speed = app.state.shared.backends.speed
        prior = SpeedEstimate(9.0, 100.0)
        before = speed.estimate("groq", prior).ttft_s
        for _ in range(3):
            answer = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
            assert answer.status_code == 400
            assert answer.json()["error"]["message"] == "context too long"
        after = speed.estimate("groq", prior).ttft_s
    assert after == before
    ttft = "gptoss_router_time_to_first_token_seconds_count"
    assert _sample(registry, ttft, backend="groq") == 0
    refused = {"route": "chat", "model": MODEL, "backend": "groq", "outcome": "client_error"}
    assert _sample(registry, "gptoss_router_requests_total", **refused) == 3


async def test_a_refusal_does_not_end_a_providers_run_of_failures() -> None:
    # Four failures, a refusal, a fifth failure: five failures in a row eject groq.
    groq = _in_turn(*[_failure] * 4, _refusal, _failure)
    upstreams = Upstreams(
        {"groq.test": groq, "fireworks.test": lambda request: chat_reply("fireworks-model")}
    )
    async with _router(settings(pods=[]), upstreams) as (client, app, registry):
        statuses = [
            (await client.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(6)
        ]
        ejected = app.state.shared.backends.health.is_ejected("groq")
    assert statuses == [200, 200, 200, 200, 400, 200]
    assert ejected
    assert _sample(registry, "gptoss_router_ejections_total", backend="groq") == 1


async def test_a_refusal_from_a_provider_is_no_spill() -> None:
    upstreams = Upstreams({"groq.test": _refusal})
    async with _router(settings(pods=[]), upstreams) as (client, _, registry):
        answer = await client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 400
    spilled = {"model": MODEL, "reason": "scaled_to_zero", "deployment": ""}
    assert _sample(registry, "gptoss_router_spilled_requests_total", **spilled) == 0
    inflight = {"model": MODEL, "deployment": ""}
    assert _sample(registry, "gptoss_router_spilled_inflight", **inflight) == 0


async def test_a_pod_that_refuses_a_request_gets_its_in_flight_count_back() -> None:
    upstreams = Upstreams({"pod-a.test": _refusal})
    async with _router(settings(providers=[]), upstreams) as (client, app, registry):
        answer = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        pod = app.state.shared.backends.pools.get(MODEL, "http://pod-a.test:8000")
    assert answer.status_code == 400
    assert pod is not None and pod.inflight == 0
    refused = {"route": "chat", "model": MODEL, "backend": "local", "outcome": "client_error"}
    assert _sample(registry, "gptoss_router_requests_total", **refused) == 1
