"""``--stream-interval`` as vLLM 0.17.0 applies it (``vllm/v1/engine/output_processor.py``): the
first token goes out at once, then one output per ``interval`` tokens, and the last."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from gptoss_sim import VllmSim, running
from gptoss_sim.streaming import stream_interval
from tests.sim.conftest import MODEL, vllm_config


async def _counts(upto: int) -> AsyncIterator[int]:
    for count in range(1, upto + 1):
        yield count


async def _released(upto: int, interval: int) -> list[int]:
    return [count async for count in stream_interval(_counts(upto), interval, upto)]


def test_the_first_token_goes_out_at_once_then_every_interval_tokens_and_the_last() -> None:
    assert asyncio.run(_released(10, 4)) == [1, 5, 9, 10]
    assert asyncio.run(_released(20, 20)) == [1, 20]
    assert asyncio.run(_released(3, 1)) == [1, 2, 3]


def test_closing_the_stream_closes_the_engine_request_under_it() -> None:
    closed: list[bool] = []

    async def counts() -> AsyncIterator[int]:
        try:
            for count in range(1, 100):
                yield count
        finally:
            closed.append(True)

    async def take_two() -> None:
        stream = stream_interval(counts(), 5, 99)
        assert [await anext(stream), await anext(stream)] == [1, 6]
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(take_two())
    assert closed == [True]


def test_a_streamed_completion_comes_in_the_groups_the_stream_interval_makes() -> None:
    with running(VllmSim(vllm_config(stream_interval=5))) as server:
        body = {"model": MODEL, "prompt": "Count with me", "max_tokens": 12, "stream": True}
        with httpx.stream("POST", f"{server.base_url}/v1/completions", json=body) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    texts = [json.loads(line[6:])["choices"] for line in lines]
    words = [len(c[0]["text"].split()) for c in texts if c and c[0]["text"]]
    assert words == [1, 5, 5, 1]
