"""Plumbing shared by every endpoint: SSE framing, pacing replies, noticing a client leave."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request

from gptoss_sim.reply import Channel

T = TypeVar("T")

# A pacer produces the running count of generated tokens, as they are generated.
Pacer = Callable[[int, int], AsyncIterator[int]]

DONE = b"data: [DONE]\n\n"


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event carrying ``data`` as JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream_interval(
    counts: AsyncIterator[int], interval: int, total: int
) -> AsyncIterator[int]:
    """The token counts vLLM's ``--stream-interval`` lets through, as they come.

    vLLM 0.17.0 ``vllm/v1/engine/output_processor.py`` (``RequestState.make_request_output``)
    sends an output when the request has finished, when nothing has been sent yet (the first
    token goes out at once), or when ``interval`` tokens have piled up since the last one sent.
    """
    sent = 0
    try:
        async for count in counts:
            if sent == 0 or count - sent >= interval or count >= total:
                sent = count
                yield count
    finally:
        await counts.aclose()  # type: ignore[attr-defined]


async def paced(
    pacer: Pacer, prompt_tokens: int, pieces: list[tuple[Channel, str]]
) -> AsyncIterator[list[tuple[Channel, str]]]:
    """The reply's pieces in the groups the pacer releases them in."""
    sent = 0
    stream = pacer(prompt_tokens, len(pieces))
    try:
        async for count in stream:
            upto = min(count, len(pieces))
            if upto > sent:
                yield pieces[sent:upto]
                sent = upto
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def drain(pacer: Pacer, prompt_tokens: int, completion_tokens: int) -> None:
    stream = pacer(prompt_tokens, completion_tokens)
    try:
        async for _ in stream:
            pass
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


class ClientGone(Exception):
    """The client disconnected before the reply was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work`` unless the client leaves first (then cancel it and raise ClientGone)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise ClientGone
