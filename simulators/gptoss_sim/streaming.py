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


async def paced_choices(
    pacer: Pacer, prompt_tokens: int, choices: list[list[tuple[Channel, str]]]
) -> AsyncIterator[tuple[int, list[tuple[Channel, str]]]]:
    """Each choice's pieces in the groups the pacer releases them in, with the choice's index,
    as they come: a request for ``n`` choices runs as ``n`` requests side by side, as vLLM
    fans it out (``vllm/v1/engine/parallel_sampling.py``)."""
    if len(choices) == 1:
        async for group in paced(pacer, prompt_tokens, choices[0]):
            yield 0, group
        return
    queue: asyncio.Queue[tuple[int, list[tuple[Channel, str]]] | Exception | None]
    queue = asyncio.Queue()

    async def run(index: int) -> None:
        try:
            async for group in paced(pacer, prompt_tokens, choices[index]):
                queue.put_nowait((index, group))
        except Exception as exc:  # the engine failing: the merged stream raises it
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(None)

    tasks = [asyncio.create_task(run(i)) for i in range(len(choices))]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def drain_all(pacer: Pacer, prompt_tokens: int, completion_tokens: list[int]) -> None:
    """Pace every choice's reply to its end, side by side; the first failure stops all and is
    raised as it came."""
    if len(completion_tokens) == 1:
        await drain(pacer, prompt_tokens, completion_tokens[0])
        return
    try:
        async with asyncio.TaskGroup() as group:
            for count in completion_tokens:
                group.create_task(drain(pacer, prompt_tokens, count))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


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
