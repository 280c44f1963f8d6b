"""The ASGI seam of the request path: read a request off the wire, write an answer back.

The three generating routes skip Starlette's middleware, routing and ``Request`` objects, which
cost more per request than the routing decision itself; everything else (the information
routes, the lifespan) still goes to Starlette. Only the headers the router reads are decoded.

A streamed answer is sent chunk by chunk in the request's own task while one small task waits
for the client to leave; if it does, the stream is cancelled, which closes the upstream call
(so the pod stops generating) and the request's ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from gptoss_router.errors import SlowClient, TooLarge
from gptoss_router.openai.inbound import Route

__all__ = [
    "GENERATING",
    "Streamed",
    "Whole",
    "read_body",
    "read_headers",
    "send_answer",
]


GENERATING: dict[str, Route] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/responses": "responses",
}
_READ = frozenset({b"authorization", b"content-length", b"x-gptoss-route", b"x-gptoss-max-price"})
_JSON = (b"content-type", b"application/json")
_SSE = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


@dataclass(frozen=True, slots=True)
class Whole:
    """An answer sent in one piece (JSON)."""

    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Streamed:
    """A 200 answer sent as server-sent events while ``chunks`` yields them."""

    chunks: AsyncGenerator[bytes, None]
    headers: dict[str, str]
    # called once the stream has ended, however it ended (a conversation turn's lock)
    ended: Callable[[], Awaitable[None]] | None = None
    # called once ``chunks`` is closed, however it ended: gives back what ``chunks`` holds
    # and would have given back itself had it started (closing a generator that never
    # started runs none of its body: the client was gone, or the task cancelled, before the
    # answer's head went out)
    abandoned: Callable[[], None] | None = None


def read_headers(scope: Scope) -> dict[str, str]:
    """The headers the router reads (names are lower case in ASGI)."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _READ
    }


async def read_body(
    receive: Receive, headers: dict[str, str], limit: int, timeout_s: float
) -> bytes:
    """The whole request body, refused once larger than ``limit`` bytes or slower than
    ``timeout_s`` seconds to arrive."""
    declared = headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    # Almost always the body came with the headers and the first receive() does not wait;
    # only a read that would wait pays for a timer (about as much as the rest of this path).
    steps = receive().__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration as done:
        message: Message = done.value
        if not message.get("more_body", False):
            body: bytes = message.get("body", b"")
            if len(body) > limit:
                raise TooLarge(f"The request body is larger than {limit} bytes.") from None
            return body
        first: Awaitable[Message] = _Ready(message)
    else:
        first = _Rest(steps, waiting_on)
    try:
        async with asyncio.timeout(timeout_s):
            return await _rest_of_body(first, receive, limit)
    except TimeoutError:
        raise SlowClient(f"The request body did not arrive within {timeout_s:g} s.") from None


async def _rest_of_body(first: Awaitable[Message], receive: Receive, limit: int) -> bytes:
    message = await first
    body: bytes = message.get("body", b"")
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    if size > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    return b"".join(chunks)


class _Ready:
    """An awaitable of a message already received."""

    __slots__ = ("_message",)

    def __init__(self, message: Message) -> None:
        self._message = message

    def __await__(self) -> Generator[Any, Any, Message]:
        return self._message
        yield  # pragma: no cover - makes this a generator


class _Rest:
    """The rest of an awaitable whose first step was already taken: awaiting this goes on
    from where it stopped (passing results, cancellation and timeouts through)."""

    __slots__ = ("_steps", "_waiting_on")

    def __init__(self, steps: Generator[Any, Any, Message], waiting_on: Any) -> None:
        self._steps = steps
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Message]:
        steps, waiting_on = self._steps, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as err:
                try:
                    waiting_on = steps.throw(err)
                except StopIteration as done:
                    result: Message = done.value
                    return result
            else:
                try:
                    waiting_on = steps.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result


async def send_answer(answer: Whole | Streamed, send: Send, receive: Receive) -> None:
    """Write ``answer`` to the client."""
    if isinstance(answer, Whole):
        head = [_JSON, (b"content-length", str(len(answer.body)).encode())]
        head += _encoded(answer.headers)
        await send({"type": "http.response.start", "status": answer.status, "headers": head})
        await send({"type": "http.response.body", "body": answer.body})
        return
    try:
        head = [*_SSE, *_encoded(answer.headers)]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await _stream(answer.chunks, send, receive)
    finally:
        with contextlib.suppress(Exception):
            await answer.chunks.aclose()
        try:
            if answer.abandoned is not None:
                answer.abandoned()
        finally:
            if answer.ended is not None:
                await answer.ended()


async def _stream(chunks: AsyncGenerator[bytes, None], send: Send, receive: Receive) -> None:
    task = asyncio.current_task()
    assert task is not None
    left = False

    async def watch() -> None:
        nonlocal left
        while (await receive())["type"] != "http.disconnect":
            pass
        left = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        watcher.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not left:
            raise
        task.uncancel()
    finally:
        watcher.cancel()
        await chunks.aclose()


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
