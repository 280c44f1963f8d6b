"""Under concurrent load the vLLM simulator queues and slows like the engine it imitates."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from gptoss_sim import Running, VllmSim, running
from tests.sim.conftest import FAST, MODEL, vllm_config
from tests.waiting import eventually

# Slow enough that requests overlap, fast enough for a sub-second test.
LOADED = replace(FAST, step_base_s=0.004, step_per_seq_s=0.001)
PROMPT = [{"role": "user", "content": "Queue me up"}]


def scrape(base_url: str) -> dict[str, tuple[str, float]]:
    """Each sample's name mapped to (family type, value) for the unlabelled-by-reason series."""
    text = httpx.get(f"{base_url}/metrics").text
    out: dict[str, tuple[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "finished_reason" not in sample.labels and "le" not in sample.labels:
                out[sample.name] = (family.type, sample.value)
    return out


def test_metrics_use_vllms_names_types_and_total_suffixes(
    vllm_client: openai.OpenAI, vllm: Running
) -> None:
    vllm_client.chat.completions.create(model=MODEL, messages=PROMPT)
    samples = scrape(vllm.base_url)
    # docs/sources.md, vLLM metrics (vLLM vllm/v1/metrics/loggers.py, docs/design/metrics.md).
    assert samples["vllm:num_requests_waiting"][0] == "gauge"
    assert samples["vllm:num_requests_running"][0] == "gauge"
    assert samples["vllm:kv_cache_usage_perc"][0] == "gauge"
    assert samples["vllm:prompt_tokens_total"] == (
        "counter",
        samples["vllm:prompt_tokens_total"][1],
    )
    assert samples["vllm:generation_tokens_total"][1] > 0
    assert samples["vllm:time_to_first_token_seconds_count"] == ("histogram", 1.0)
    assert samples["vllm:e2e_request_latency_seconds_count"] == ("histogram", 1.0)
    text = httpx.get(f"{vllm.base_url}/metrics").text
    assert 'model_name="openai/gpt-oss-120b"' in text and 'engine="0"' in text


def test_requests_queue_once_concurrency_passes_max_num_seqs_and_ttft_grows_with_the_queue() -> (
    None
):
    sim = VllmSim(vllm_config(capacity=LOADED))
    concurrency = LOADED.max_num_seqs * 3
    with running(sim) as server:
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)

        async def one() -> float:
            started = time.monotonic()
            stream = await client.chat.completions.create(model=MODEL, messages=PROMPT, stream=True)
            first = None
            async for chunk in stream:
                if (
                    first is None
                    and chunk.choices
                    and (chunk.choices[0].delta.model_extra or {}).get("reasoning")
                ):
                    first = time.monotonic() - started
            assert first is not None
            return first

        async def load() -> tuple[list[float], float]:
            async with client:
                tasks = [asyncio.create_task(one()) for _ in range(concurrency)]
                peak = await asyncio.to_thread(
                    eventually,
                    lambda: scrape(server.base_url)["vllm:num_requests_waiting"][1] or None,
                    timeout=10,
                    what="a waiting queue",
                )
                ttfts = await asyncio.gather(*tasks)
            return sorted(ttfts), peak

        ttfts, waiting = asyncio.run(load())
        running_now = scrape(server.base_url)["vllm:num_requests_running"][1]
    assert waiting > 0
    assert running_now == 0
    fastest_wave = ttfts[: LOADED.max_num_seqs]
    slowest_wave = ttfts[-LOADED.max_num_seqs :]
    assert max(fastest_wave) < min(slowest_wave)
