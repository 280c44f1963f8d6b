"""A client that leaves mid-stream: the router stops the upstream call and counts it cancelled."""

from __future__ import annotations

import asyncio

import openai
import pytest
from live import fleet, live_router, router_settings

pytestmark = pytest.mark.timeout(60)


async def test_a_client_leaving_mid_stream_frees_the_pod_and_is_counted_cancelled() -> None:
    with fleet(step_s=0.05) as sims:
        async with live_router(router_settings(sims)) as router:
            client = openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            )
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
            async with asyncio.timeout(10):
                while True:
                    sample = router.registry.get_sample_value(
                        "gptoss_router_requests_total", cancelled
                    )
                    if not engine.num_running and sample == 1:
                        return
                    await asyncio.sleep(0.02)
