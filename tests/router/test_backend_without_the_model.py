"""A backend that answers 404, not having the model asked for (vLLM's answer for a LoRA adapter a
pod has not loaded yet, or a provider without the model), is not the caller's fault while
another backend may have it: the next one is tried, and the 404 marks nobody's health. Only
when it is the last candidate does its 404 reach the caller, as it came."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, chat_reply, running_router, settings

pytestmark = pytest.mark.timeout(60)

# What vLLM answers for a model it does not serve (serving_engine.py, _check_model).
NOT_FOUND = {
    "error": {
        "message": f"The model `{MODEL}` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
}
ASK = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _missing(request: Any) -> httpx.Response:
    return httpx.Response(404, json=NOT_FOUND)


async def test_a_pod_without_the_model_hands_the_request_to_a_provider_and_stays_healthy() -> None:
    upstreams = Upstreams(
        {"pod-a.test": _missing, "groq.test": lambda request: chat_reply("openai/gpt-oss-120b")}
    )
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        answers = [await client.post("/v1/chat/completions", json=ASK) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 6
    assert {a.headers["x-gptoss-backend"] for a in answers} == {"groq"}
    # Six 404s in a row eject no one: each request still asks the pod first.
    assert upstreams.hosts() == ["pod-a.test", "groq.test"] * 6
    assert registry.get_sample_value("gptoss_router_ejections_total", {"backend": "local"}) is None


async def test_the_last_candidates_404_reaches_the_caller_in_openais_shape() -> None:
    upstreams = Upstreams({"pod-a.test": _missing})
    async with running_router(settings(providers=[]), upstreams) as client:
        answer = await client.post("/v1/chat/completions", json=ASK)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["message"] == NOT_FOUND["error"]["message"]
    assert error["type"] == "invalid_request_error"
