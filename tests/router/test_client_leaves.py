"""Clients that leave mid-stream: the router stops the upstream calls, counts them cancelled and
keeps no upstream connection or task behind."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest
from live import LiveRouter, eventually, fleet, live_router, router_settings

pytestmark = pytest.mark.timeout(60)


async def _pod_scraped(router: LiveRouter, model: str = "gpt-oss-120b") -> None:
    """Until the router has read the pod's queue once (before that it is not fresh, and a
    request would go to a provider instead)."""
    backends = router.app.state.shared.backends
    deadline = time.monotonic() + 15
    while not any(backends.pod_view(p, scraped=True).fresh for p in backends.pools.pods(model)):
        assert time.monotonic() < deadline, "the router never scraped the pod"
        await asyncio.sleep(0.02)


async def test_a_client_leaving_mid_stream_frees_the_pod_and_is_counted_cancelled() -> None:
    with fleet(step_s=0.05) as sims:
        async with live_router(router_settings(sims)) as router:
            await _pod_scraped(router)
            async with openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client:
                stream = await client.chat.completions.create(
                    model="gpt-oss-120b",
                    messages=[{"role": "user", "content": "Tell me a long story."}],
                    stream=True,
                    max_tokens=2000,
                )
                await anext(aiter(stream))
                engine = sims.vllm.engine
                assert engine is not None and engine.num_running == 1
                await stream.close()
            cancelled = {
                "route": "chat",
                "model": "gpt-oss-120b",
                "backend": "local",
                "outcome": "cancelled",
            }

            async def stopped() -> bool:
                sample = router.registry.get_sample_value("gptoss_router_requests_total", cancelled)
                return not engine.num_running and sample == 1

            await eventually(stopped, what="the upstream generation to stop", within=10)


async def test_a_client_leaving_before_a_whole_answer_stops_the_upstream_generation() -> None:
    with fleet(step_s=0.05) as sims:
        async with live_router(router_settings(sims)) as router:
            await _pod_scraped(router)
            engine = sims.vllm.engine
            assert engine is not None
            async with openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=1.0
            ) as client:
                with pytest.raises(openai.APITimeoutError):
                    # 2,000 tokens at 50 ms a step: the whole answer would take 100 s.
                    await client.chat.completions.create(
                        model="gpt-oss-120b",
                        messages=[{"role": "user", "content": "Tell me a long story."}],
                        max_tokens=2000,
                    )
            cancelled = {
                "route": "chat",
                "model": "gpt-oss-120b",
                "backend": "none",
                "outcome": "cancelled",
            }

            async def stopped() -> bool:
                sample = router.registry.get_sample_value("gptoss_router_requests_total", cancelled)
                return not engine.num_running and sample == 1 and request_tasks() == 0

            await eventually(stopped, what="the upstream generation to stop", within=10)


# Coroutines of the tasks one request runs on: uvicorn's, the router's disconnect watchers.
REQUEST_TASKS = ("RequestResponseCycle.run_asgi", "_stream.<locals>.watch", "_disconnected")


def request_tasks() -> int:
    """Tasks alive now that belong to a request (the scraper's and prober's are not counted)."""
    return sum(
        getattr(task.get_coro(), "__qualname__", "") in REQUEST_TASKS
        for task in asyncio.all_tasks()
    )


def upstream_connections_in_use(router: LiveRouter) -> int:
    """Connections the router's upstream client has checked out of its pool right now."""
    connector = router.app.state.session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    return len(connector._acquired)  # aiohttp keeps no public count


async def test_clients_leaving_many_streams_leak_no_upstream_connection_or_task() -> None:
    with fleet(step_s=0.05) as sims:
        async with live_router(router_settings(sims)) as router:
            async with openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client:
                await client.chat.completions.create(
                    model="gpt-oss-120b", messages=[{"role": "user", "content": "hi"}], max_tokens=4
                )
            async with openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as leaving:
                streams = [
                    await leaving.chat.completions.create(
                        model="gpt-oss-120b",
                        messages=[{"role": "user", "content": "Tell me a long story."}],
                        stream=True,
                        max_tokens=2000,
                    )
                    for _ in range(8)
                ]
                for stream in streams:
                    await anext(aiter(stream))
                engine = sims.vllm.engine
                assert engine is not None

                async def all_streaming() -> bool:
                    return (
                        engine.num_running == 8
                        and upstream_connections_in_use(router) == 8
                        and request_tasks() >= 16
                    )

                await eventually(all_streaming, what="eight upstream streams", within=10)
                for stream in streams:
                    await stream.close()

            async def all_released() -> bool:
                cancelled = router.registry.get_sample_value(
                    "gptoss_router_requests_total",
                    {
                        "route": "chat",
                        "model": "gpt-oss-120b",
                        "backend": "local",
                        "outcome": "cancelled",
                    },
                )
                return (
                    cancelled == 8
                    and engine.num_running == 0
                    and upstream_connections_in_use(router) == 0
                    and request_tasks() == 0
                )

            await eventually(all_released, what="every upstream call released", within=10)
