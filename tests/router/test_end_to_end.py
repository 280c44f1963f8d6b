"""The official openai SDK against the router, with simulated vLLM pods and providers upstream.

Covers: every route, streaming delivered incrementally, tools and structured output passing
through, local-first routing, spill to the cheapest provider meeting the latency target, price
caps, each failure mode of the simulators, and that no secret reaches a log line or a metric.
"""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest
from live import KEYS, LiveRouter, eventually, fleet, live_router, router_settings

from gptoss_sim.server import Running

pytestmark = pytest.mark.timeout(60)
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


def client_for(router: LiveRouter, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{router.base_url}/v1", api_key=key, max_retries=0, timeout=20
    )


async def wait_until_local_ready(router: LiveRouter, model: str = "gpt-oss-120b") -> None:
    sample = {"model": model, "state": "ready"}
    async with httpx.AsyncClient() as http:

        async def ready() -> bool:
            await http.get(f"{router.base_url}/metrics")
            return (router.registry.get_sample_value("gptoss_router_local_pods", sample) or 0) >= 1

        await eventually(ready, what="the router to see a ready local pod", within=10)


async def inject(target: Running, *rules: str) -> None:
    """Install fault rules on a simulator once the router has seen it healthy."""
    async with httpx.AsyncClient() as http:
        response = await http.put(f"{target.base_url}/_sim/faults", json=list(rules))
    response.raise_for_status()


# Faults hit every route of a simulated pod, /metrics included; these tests scrape once at
# start and not again before they end, so the fault meets the request and not the scraper.
QUIET_SCRAPER = {"scrape_interval_s": 30.0, "stale_after_s": 60.0}


async def test_chat_completions_and_responses_are_served_by_the_local_pod() -> None:
    with fleet() as sims:
        async with live_router(router_settings(sims)) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            chat = await client.chat.completions.with_raw_response.create(
                model="gpt-oss-120b", messages=MESSAGES
            )
            completion = await client.completions.create(
                model="gpt-oss-120b", prompt="2+2=", max_tokens=8
            )
            response = await client.responses.create(model="gpt-oss-120b", input="2+2?")
            models = await client.models.list()
    assert chat.headers["x-gptoss-backend"] == "local"
    parsed = chat.parse()
    assert parsed.model == "gpt-oss-120b" and parsed.choices[0].message.content
    assert parsed.usage is not None and parsed.usage.completion_tokens > 0
    assert completion.choices[0].text and completion.usage is not None
    assert response.output_text and response.model == "gpt-oss-120b"
    assert [m.id for m in models.data] == ["gpt-oss-120b"]


async def test_a_stream_reaches_the_client_while_the_pod_is_still_generating() -> None:
    with fleet(step_s=0.02) as sims:
        async with live_router(router_settings(sims)) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            # A long reply (2000 tokens at 20 ms a step) so that even a starved client reads its
            # first chunk while the engine is still generating.
            stream = await client.chat.completions.create(
                model="gpt-oss-120b", messages=MESSAGES, stream=True, max_tokens=2000
            )
            running_at_first_chunk = None
            pieces = []
            async for chunk in stream:
                if running_at_first_chunk is None:
                    assert sims.vllm.engine is not None
                    running_at_first_chunk = sims.vllm.engine.num_running
                if chunk.choices:
                    delta = chunk.choices[0].delta
                    pieces.append(delta.content or getattr(delta, "reasoning", None) or "")
                if len(pieces) > 20:
                    break
            await stream.close()
    assert running_at_first_chunk == 1
    assert len(pieces) > 10 and "".join(pieces)


async def test_a_streamed_responses_call_ends_with_a_completed_event() -> None:
    with fleet() as sims:
        async with live_router(router_settings(sims)) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            stream = await client.responses.create(model="gpt-oss-120b", input="hi", stream=True)
            kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds


async def test_tools_and_structured_output_pass_through() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    with fleet() as sims:
        async with live_router(router_settings(sims)) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            called = await client.chat.completions.create(
                model="gpt-oss-120b",
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                tools=tools,
            )  # type: ignore[arg-type]
            structured = await client.chat.completions.create(
                model="gpt-oss-120b",
                messages=MESSAGES,  # type: ignore[arg-type]
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": schema, "strict": True},
                },
            )
    calls = called.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    assert isinstance(json.loads(structured.choices[0].message.content or "")["answer"], int)


async def test_saturated_pods_spill_to_the_cheapest_provider_within_the_latency_target() -> None:
    prices = {"groq": (0.075, 0.30), "fireworks": (0.07, 0.30), "together": (0.05, 0.20)}
    with fleet(step_s=0.05) as sims:
        config = router_settings(sims, local={"max_inflight": 1}, prices=prices)
        async with live_router(config) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            held = await client.chat.completions.create(
                model="gpt-oss-120b", messages=MESSAGES, stream=True
            )
            await anext(aiter(held))
            spilled = await client.chat.completions.with_raw_response.create(
                model="gpt-oss-120b", messages=MESSAGES
            )
            await held.close()
            spill = router.registry.get_sample_value(
                "gptoss_router_spilled_requests_total",
                {"model": "gpt-oss-120b", "reason": "saturated", "deployment": ""},
            )
    assert spilled.headers["x-gptoss-backend"] == "together"
    assert spilled.parse().model == "gpt-oss-120b" and spill == 1


async def test_a_provider_over_the_price_cap_is_never_used_even_when_others_fail() -> None:
    prices = {"groq": (0.075, 0.30), "fireworks": (0.07, 0.30), "together": (0.05, 0.20)}
    with fleet(provider_faults={"together": ("status=503",)}) as sims:
        config = router_settings(
            sims, local={"pods": []}, prices=prices, spillover={"max_price": {"output": 0.25}}
        )
        async with live_router(config) as router, client_for(router) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model="gpt-oss-120b", messages=MESSAGES)
            used = {
                b: router.registry.get_sample_value(
                    "gptoss_router_retries_total", {"backend": b, "reason": "status_503"}
                )
                for b in ("groq", "fireworks")
            }
    assert caught.value.status_code == 503
    assert sims.provider_sims["groq"].ledger == type(sims.provider_sims["groq"].ledger)()
    assert sims.provider_sims["fireworks"].in_flight == 0 and used == {
        "groq": None,
        "fireworks": None,
    }


@pytest.mark.parametrize("fault", ["reset", "status=500", "hang"])
async def test_a_pod_failing_before_its_first_byte_fails_over_to_a_provider(fault: str) -> None:
    with fleet() as sims:
        quick = {"first_byte_timeout_s": 0.5, "response_timeout_s": 1.0}
        config = router_settings(sims, tuning={**quick, **QUIET_SCRAPER})
        async with live_router(config) as router, client_for(router) as client:
            await wait_until_local_ready(router)
            await inject(sims.local, fault)
            answer = await client.chat.completions.with_raw_response.create(
                model="gpt-oss-120b", messages=MESSAGES
            )
    assert answer.http_response.status_code == 200
    assert answer.headers["x-gptoss-backend"] in KEYS
    assert answer.parse().choices[0].message.content


async def test_a_429_with_retry_after_moves_on_and_keeps_the_provider_aside_meanwhile() -> None:
    with fleet(provider_faults={"groq": ("status=429,retry_after=30",)}) as sims:
        config = router_settings(sims, local={"pods": []}, prices={"groq": (0.1, 0.1)})
        async with live_router(config) as router, client_for(router) as client:
            first = await client.chat.completions.with_raw_response.create(
                model="gpt-oss-120b", messages=MESSAGES
            )
            second = await client.chat.completions.with_raw_response.create(
                model="gpt-oss-120b", messages=MESSAGES
            )
            retried = router.registry.get_sample_value(
                "gptoss_router_retries_total", {"backend": "groq", "reason": "status_429"}
            )
    assert (
        first.headers["x-gptoss-backend"] != "groq" and second.headers["x-gptoss-backend"] != "groq"
    )
    assert retried == 1


async def test_a_stream_cut_mid_way_ends_with_an_error_the_sdk_raises() -> None:
    with fleet() as sims:
        async with (
            live_router(router_settings(sims, tuning=QUIET_SCRAPER)) as router,
            client_for(router) as client,
        ):
            await wait_until_local_ready(router)
            await inject(sims.local, "disconnect_after=4")
            stream = await client.chat.completions.create(
                model="gpt-oss-120b", messages=MESSAGES, stream=True
            )
            received = 0
            with pytest.raises(openai.APIError, match="upstream"):
                async for _ in stream:
                    received += 1
            interrupted = router.registry.get_sample_value(
                "gptoss_router_requests_total",
                {
                    "route": "chat",
                    "model": "gpt-oss-120b",
                    "backend": "local",
                    "outcome": "interrupted",
                },
            )
    assert received >= 1 and interrupted == 1


async def test_no_secret_appears_in_any_log_line_or_metric(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app_key = "app-live-secret-444"
    caplog.set_level(logging.DEBUG)
    with fleet() as sims:
        config = router_settings(sims, apps=[{"name": "web", "key": app_key}], tuning=QUIET_SCRAPER)
        async with (
            live_router(config) as router,
            client_for(router, key=app_key) as client,
            client_for(router, key="wrong") as intruder,
        ):
            await wait_until_local_ready(router)
            await inject(sims.local, "status=500")
            await client.chat.completions.create(model="gpt-oss-120b", messages=MESSAGES)
            stream = await client.chat.completions.create(
                model="gpt-oss-120b", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
            with pytest.raises(openai.AuthenticationError):
                await intruder.chat.completions.create(model="gpt-oss-120b", messages=MESSAGES)
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{router.base_url}/metrics")).text
    assert "gptoss_router_requests_total" in metrics and caplog.records
    for secret in [app_key, *KEYS.values()]:
        assert secret not in caplog.text
        assert secret not in metrics
