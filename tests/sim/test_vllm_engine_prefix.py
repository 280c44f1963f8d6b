"""Prefix caching through the vLLM simulator: the engine reports cached tokens per request and
exports vLLM's prefix-cache counters (vLLM 0.17.0 ``vllm/v1/metrics/loggers.py``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_sim import VllmSim, running
from gptoss_sim.clock import MonotonicClock
from gptoss_sim.engine import Engine, RequestStats
from gptoss_sim.prefix_cache import block_hashes
from tests.sim.conftest import FAST, MODEL, vllm_config

LONG = [{"role": "user", "content": "Explain the queueing report in detail. " * 60}]


Samples = dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]


def families(base_url: str) -> Samples:
    """Each metric family's type and its samples (name, labels, value)."""
    text = httpx.get(f"{base_url}/metrics").text
    return {
        family.name: (family.type, [(s.name, s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(text)
    }


def total(found: Samples, name: str) -> float:
    kind, samples = found[name]
    assert kind == "counter"
    return sum(value for sample, _, value in samples if sample == f"{name}_total")


def test_the_engine_tells_each_request_how_many_prompt_tokens_it_found_cached() -> None:
    async def twice() -> tuple[int, int]:
        engine = Engine(FAST, MonotonicClock())
        engine.start()
        chain = block_hashes(list(range(1_000)), FAST.block_size)
        first, second = RequestStats(), RequestStats()
        async for _ in engine.generate(1_000, 3, chain, first):
            pass
        async for _ in engine.generate(1_000, 3, chain, second):
            pass
        await engine.stop()
        return first.cached_tokens, second.cached_tokens

    assert asyncio.run(twice()) == (0, 999 // 16 * 16)


def test_a_repeated_chat_prompt_is_counted_as_prefix_cache_hits() -> None:
    with running(VllmSim(vllm_config())) as server:
        for _ in range(2):
            body = {"model": MODEL, "messages": LONG}
            httpx.post(f"{server.base_url}/v1/chat/completions", json=body).raise_for_status()
        found = families(server.base_url)
    prompt = total(found, "vllm:prompt_tokens") / 2
    assert total(found, "vllm:prefix_cache_queries") == 2 * prompt
    assert total(found, "vllm:prefix_cache_hits") == (prompt - 1) // 16 * 16
    assert total(found, "vllm:prompt_tokens_cached") == (prompt - 1) // 16 * 16
    kind, info = found["vllm:cache_config_info"]
    assert kind == "gauge"
    ((_, labels, value),) = info
    assert labels["enable_prefix_caching"] == "True" and value == 1


def test_with_no_enable_prefix_caching_nothing_is_looked_up_or_found() -> None:
    config = vllm_config(capacity=replace(FAST, enable_prefix_caching=False))
    with running(VllmSim(config)) as server:
        for _ in range(2):
            body = {"model": MODEL, "messages": LONG}
            httpx.post(f"{server.base_url}/v1/chat/completions", json=body).raise_for_status()
        found = families(server.base_url)
    assert total(found, "vllm:prefix_cache_queries") == 0
    assert total(found, "vllm:prefix_cache_hits") == 0
    ((_, labels, _),) = found["vllm:cache_config_info"][1]
    assert labels["enable_prefix_caching"] == "False"
