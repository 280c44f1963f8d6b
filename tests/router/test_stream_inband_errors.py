"""A stream whose first event is an error (vLLM's engine failing before the first token: HTTP
200, ``data: {"error": …}``, ``data: [DONE]``) is a failed attempt: nothing reached the client
yet, so the next candidate answers and the pod's health counts the failure."""

from __future__ import annotations

import json

import openai
import pytest
from engine_errors import ENGINE_ERROR, chat_chunk, streamed
from live import eventually, fleet, live_router, router_settings
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, chat_reply, running_router, settings

pytestmark = pytest.mark.timeout(60)

STREAM = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
}


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_stream_opening_with_an_error_fails_over_and_counts_against_the_pod() -> None:
    upstreams = Upstreams(
        {
            "pod-a.test": lambda request: streamed(ENGINE_ERROR, "[DONE]"),
            "groq.test": lambda request: chat_reply("openai/gpt-oss-120b"),
        }
    )
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        answers = [await client.post("/v1/chat/completions", json=STREAM) for _ in range(6)]
    for answer in answers:
        assert answer.status_code == 200 and answer.headers["x-gptoss-backend"] == "groq"
        assert "EngineCore" not in answer.text and answer.text.endswith("data: [DONE]\n\n")
    # Five failures in a row eject the pod: the sixth request goes straight to groq.
    assert upstreams.hosts() == ["pod-a.test", "groq.test"] * 5 + ["groq.test"]
    assert _sample(registry, "gptoss_router_retries_total", backend="local", reason="error_event")
    assert _sample(registry, "gptoss_router_ejections_total", backend="local") == 1
    served = {"route": "chat", "model": MODEL, "backend": "local", "outcome": "ok"}
    assert _sample(registry, "gptoss_router_requests_total", **served) is None


async def test_when_every_backend_opens_with_an_error_the_client_gets_a_502() -> None:
    upstreams = Upstreams({"pod-a.test": lambda request: streamed(ENGINE_ERROR, "[DONE]")})
    async with running_router(settings(providers=[]), upstreams) as client:
        answer = await client.post("/v1/chat/completions", json=STREAM)
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert (
        error["type"] == "upstream_error"
        and "EngineCore encountered an issue" in (error["message"])
    )


async def test_an_error_after_the_first_event_reaches_the_client_in_band_in_openais_shape() -> None:
    upstreams = Upstreams(
        {
            "pod-a.test": lambda request: streamed(chat_chunk("Hel"), ENGINE_ERROR, "[DONE]"),
            "groq.test": lambda request: chat_reply("openai/gpt-oss-120b"),
        }
    )
    async with running_router(settings(), upstreams) as client:
        answer = await client.post("/v1/chat/completions", json=STREAM)
    assert answer.headers["x-gptoss-backend"] == "local"  # committed on "Hel": no failover
    lines = [line for line in answer.text.splitlines() if line]
    assert "data: [DONE]" not in lines  # the answer did not end well
    error = json.loads(lines[-1][6:])["error"]
    assert error["message"] == ENGINE_ERROR["error"]["message"]
    assert isinstance(error["type"], str) and error["code"] != 500  # OpenAI's shape, not vLLM's


async def test_the_vllm_simulators_engine_error_fault_is_failed_over_like_vllms() -> None:
    """The simulator's ``error_after=0`` fault: its engine fails each request before the
    first token and says so in the stream; the router takes the provider instead."""
    with fleet(local_faults=("error_after=0,path=/v1/",)) as sims:
        async with (
            live_router(router_settings(sims)) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client,
        ):
            backends = router.app.state.shared.backends

            async def scraped() -> bool:
                pods = backends.pools.pods(MODEL)
                return any(backends.pod_view(p, scraped=True).fresh for p in pods)

            await eventually(scraped, what="the pod to be scraped", within=15)
            stream = await client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                max_tokens=8,
            )
            chunks = [chunk async for chunk in stream.parse()]
    assert stream.headers["x-gptoss-backend"] != "local"
    assert chunks and all(c.model == MODEL for c in chunks)
    retried = {"backend": "local", "reason": "error_event"}
    assert router.registry.get_sample_value("gptoss_router_retries_total", retried) == 1
    engine = sims.vllm.engine
    assert engine is not None and engine.num_running == 0  # it dropped the failed request
