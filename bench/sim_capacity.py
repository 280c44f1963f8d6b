"""How the vLLM simulator behaves under load: concurrency -> queue depth -> TTFT -> tokens/s.

    python bench/sim_capacity.py [--max-num-seqs 16] [--levels 1,4,8,16,32,64]

Starts the simulator in-process with the default gpt-oss-120b-on-H100 step times (see
``gptoss_sim.capacity``) but a small ``max_num_seqs`` so the queue forms early, sends each
level's requests at once through the async openai client (streaming), samples
``vllm:num_requests_waiting`` from ``/metrics`` while they run, and prints one row per level.
Writes the rows to bench/results/sim_capacity.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from gptoss_sim import CapacityParams, ReplyParams, VllmConfig, VllmSim, running

MODEL = "openai/gpt-oss-120b"
PROMPT = [{"role": "user", "content": "Explain in one paragraph why queues form. " * 8}]


async def sample_waiting(http: httpx.AsyncClient, url: str, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        text = (await http.get(url)).text
        for family in text_string_to_metric_families(text):
            if family.name == "vllm:num_requests_waiting":
                peak = max(peak, *(s.value for s in family.samples))
        await asyncio.sleep(0.01)
    return peak


async def one(client: openai.AsyncOpenAI) -> tuple[float, int]:
    started = time.monotonic()
    first: float | None = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=PROMPT,
        stream=True,
        reasoning_effort="low",
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if first is None and chunk.choices:
            delta = chunk.choices[0].delta
            if delta.content or (delta.model_extra or {}).get("reasoning"):
                first = time.monotonic() - started
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return first or 0.0, tokens


async def level(base: str, api: str, concurrency: int) -> dict[str, float]:
    stop = asyncio.Event()
    async with (
        openai.AsyncOpenAI(base_url=api, api_key="bench", max_retries=0) as client,
        httpx.AsyncClient() as http,
    ):
        sampler = asyncio.create_task(sample_waiting(http, f"{base}/metrics", stop))
        started = time.monotonic()
        results = await asyncio.gather(*(one(client) for _ in range(concurrency)))
        wall = time.monotonic() - started
        stop.set()
        peak = await sampler
    ttfts = sorted(r[0] for r in results)
    return {
        "concurrency": concurrency,
        "peak_waiting": peak,
        "ttft_p50_s": statistics.median(ttfts),
        "ttft_max_s": ttfts[-1],
        "tokens_per_s": sum(r[1] for r in results) / wall,
        "per_request_tokens_per_s": statistics.median(r[1] / wall for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-num-seqs", type=int, default=16)
    parser.add_argument("--levels", default="1,4,8,16,32,64")
    args = parser.parse_args()
    capacity = replace(CapacityParams(), max_num_seqs=args.max_num_seqs, startup_s=0.0)
    reply = ReplyParams(reasoning_tokens={"low": 16, "medium": 48, "high": 160}, answer_tokens=48)
    sim = VllmSim(VllmConfig(capacity=capacity, reply=reply))
    rows = []
    with running(sim) as server:
        for concurrency in (int(c) for c in args.levels.split(",")):
            rows.append(asyncio.run(level(server.base_url, server.openai_base_url, concurrency)))
    print(f"max_num_seqs={args.max_num_seqs}, {reply.answer_tokens + 16} tokens per reply")
    print(f"{'concurrency':>11} {'peak queue':>10} {'TTFT p50':>9} {'TTFT max':>9} {'tokens/s':>9}")
    for row in rows:
        print(
            f"{row['concurrency']:>11.0f} {row['peak_waiting']:>10.0f} "
            f"{row['ttft_p50_s']:>8.3f}s {row['ttft_max_s']:>8.3f}s {row['tokens_per_s']:>9.0f}"
        )
    out = Path(__file__).parent / "results" / "sim_capacity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
