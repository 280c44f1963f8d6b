"""Holding: a model that may not spill waits for a local pod, within bounds, then answers 503."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest
from live import eventually, fleet, live_router, router_settings
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, running_router, settings

pytestmark = pytest.mark.timeout(60)
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
NO_SPILL = {"providers": []}


def held(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("gptoss_router_held_requests", {"model": MODEL}) or 0.0


def holds(registry: CollectorRegistry, outcome: str) -> float:
    sample = {"model": MODEL, "outcome": outcome}
    return registry.get_sample_value("gptoss_router_holds_total", sample) or 0.0


async def test_a_model_at_zero_without_spillover_answers_held_requests_once_a_pod_appears() -> None:
    with fleet() as sims:
        config = router_settings(sims, local={"pods": []}, spillover=NO_SPILL)
        async with (
            live_router(config) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=20
            ) as client,
        ):
            asks = [
                asyncio.create_task(
                    client.chat.completions.with_raw_response.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi"}]
                    )
                )
                for _ in range(3)
            ]

            async def all_held() -> bool:
                return held(router.registry) == 3

            await eventually(all_held, what="three requests being held", within=10)
            # What discovery does once the first replica is Ready.
            pools = router.app.state.shared.backends.pools
            pools.replace(MODEL, [sims.local.base_url], served_model=MODEL)
            answers = await asyncio.wait_for(asyncio.gather(*asks), 20)
    assert [a.headers["x-gptoss-backend"] for a in answers] == ["local"] * 3
    assert all(a.parse().choices[0].message.content for a in answers)
    assert held(router.registry) == 0 and holds(router.registry, "released") == 3


async def test_a_request_held_past_the_hold_time_gets_a_503_with_retry_after() -> None:
    registry = CollectorRegistry()
    config = settings(
        pods=[],
        spillover=NO_SPILL,
        tuning={"hold_timeout_s": 0.3, "hold_retry_after_s": 3},
    )
    async with running_router(config, Upstreams(), registry) as client:
        started = time.monotonic()
        response = await client.post("/v1/chat/completions", json=CHAT)
        waited = time.monotonic() - started
    error = response.json()["error"]
    assert response.status_code == 503 and response.headers["retry-after"] == "3"
    assert (error["type"], error["code"]) == ("service_unavailable", "no_capacity")
    assert MODEL in error["message"] and waited >= 0.3
    assert holds(registry, "timeout") == 1 and held(registry) == 0


async def test_requests_beyond_the_most_a_model_may_hold_are_refused_at_once() -> None:
    registry = CollectorRegistry()
    config = settings(
        pods=[],
        spillover=NO_SPILL,
        tuning={"hold_timeout_s": 2.0, "max_held": 1, "hold_retry_after_s": 5},
    )
    async with running_router(config, Upstreams(), registry) as client:
        first = asyncio.create_task(client.post("/v1/chat/completions", json=CHAT))

        async def one_held() -> bool:
            return held(registry) == 1

        await eventually(one_held, what="the first request being held", within=5)
        started = time.monotonic()
        second = await client.post("/v1/chat/completions", json=CHAT)
        refused_in = time.monotonic() - started
        timed_out = await first
    assert second.status_code == 503 and second.headers["retry-after"] == "5"
    assert refused_in < 1.0 and timed_out.status_code == 503
    assert holds(registry, "full") == 1 and holds(registry, "timeout") == 1


async def test_a_client_leaving_while_held_gives_up_its_place() -> None:
    with fleet() as sims:
        config = router_settings(sims, local={"pods": []}, spillover=NO_SPILL)
        async with live_router(config) as router:
            host, port = router.base_url.removeprefix("http://").split(":")
            _, writer = await asyncio.open_connection(host, int(port))
            body = b'{"model":"gpt-oss-120b","messages":[{"role":"user","content":"hi"}]}'
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: router\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()

            async def one_held() -> bool:
                return held(router.registry) == 1

            async def given_up() -> bool:
                return held(router.registry) == 0 and holds(router.registry, "left") == 1

            await eventually(one_held, what="the request being held", within=5)
            writer.close()
            await eventually(given_up, what="the hold ending with the client", within=5)
            cancelled = router.registry.get_sample_value(
                "gptoss_router_requests_total",
                {"route": "chat", "model": MODEL, "backend": "none", "outcome": "cancelled"},
            )
    assert cancelled == 1
