"""A retry draws on the retry budget only once there is a candidate to send it to: when the last
candidate of a request fails, the request ends with that failure and no retry is counted for it
(a single-candidate model in an outage would otherwise drain the budget that other models' failover
needs)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, running_router, settings

pytestmark = pytest.mark.timeout(60)

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _failure(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "engine down"}})


def _retries(registry: CollectorRegistry) -> dict[str, float]:
    """Retries counted, by the backend whose failure they followed."""
    return {
        sample.labels["backend"]: sample.value
        for metric in registry.collect()
        if metric.name == "gptoss_router_retries"
        for sample in metric.samples
        if sample.name == "gptoss_router_retries_total"
    }


async def test_a_request_whose_every_candidate_fails_counts_a_retry_only_before_each_next_one() -> (
    None
):
    upstreams = Upstreams(dict.fromkeys(("pod-a.test", "groq.test", "fireworks.test"), _failure))
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 502
    assert upstreams.hosts() == ["pod-a.test", "groq.test", "fireworks.test"]
    assert _retries(registry) == {"local": 1, "groq": 1}  # none after fireworks, the last


async def test_a_model_with_one_candidate_spends_none_of_the_budget_in_an_outage() -> None:
    upstreams = Upstreams({"pod-a.test": _failure})
    registry = CollectorRegistry()
    async with running_router(settings(providers=[]), upstreams, registry) as client:
        answers = [await client.post("/v1/chat/completions", json=CHAT) for _ in range(4)]
    assert [a.status_code for a in answers] == [502] * 4
    assert _retries(registry) == {}
    assert not registry.get_sample_value("gptoss_router_retry_budget_exhausted_total")
