"""Load through the router with the official ``openai`` SDK, tallied by the backend that
answered (the router names it in ``x-gptoss-backend``)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import openai

__all__ = ["Tally", "run_load"]


@dataclass
class Tally:
    """What the clients saw."""

    by_backend: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ttft: list[float] = field(default_factory=list)

    def ttft_p50(self) -> float | None:
        recent = self.ttft[-200:]
        return statistics.median(recent) if recent else None

    @property
    def total(self) -> int:
        return sum(self.by_backend.values())


async def _one(client: openai.AsyncOpenAI, model: str, max_tokens: int, tally: Tally) -> None:
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": "Explain KV caches to a platform engineer."}],
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        backend = raw.headers.get("x-gptoss-backend", "?")
        stream = raw.parse()
        first = True
        async for _chunk in stream:
            if first:
                tally.ttft.append(time.monotonic() - started)
                first = False
        tally.by_backend[backend] += 1
    except openai.APIError as exc:
        tally.errors[type(exc).__name__] += 1


async def run_load(
    base_url: str,
    *,
    api_key: str,
    model: str,
    concurrency: int,
    seconds: float,
    max_tokens: int,
    tally: Tally,
) -> None:
    """``concurrency`` clients sending one request after another for ``seconds``."""
    deadline = time.monotonic() + seconds
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=120
    ) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                await _one(client, model, max_tokens, tally)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
