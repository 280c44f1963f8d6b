"""How a simulator serves: what every endpoint shares.

An endpoint (``gptoss_sim.chat_endpoint``, ``completion_endpoint``, ``responses_endpoint``)
takes a parsed request and its planned replies, paces them with the simulator's pacer (the
engine for vLLM, a latency model for providers), waiting (:func:`wait_for_replies`) or
streaming (:func:`sse_response`), and writes them whole or as SSE. A ``Serving`` with a vLLM
``dialect`` writes vLLM's shapes; without one, OpenAI's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gptoss_sim import chat_format
from gptoss_sim.errors import SimError
from gptoss_sim.reply import Reply
from gptoss_sim.streaming import DONE, ClientGone, Pacer, drain_all, sse, until_disconnect
from gptoss_sim.vllm_protocol import Dialect

SSE_HEADERS = {"cache-control": "no-cache"}


@dataclass(frozen=True)
class Serving:
    """How one simulator generates and names things."""

    pacer: Pacer
    style: chat_format.ChatStyle
    tool_call_id: Callable[[], str]
    stream_error: Callable[[Exception], dict[str, Any]]
    on_finish: Callable[[str], None] = lambda reason: None
    failures: tuple[type[Exception], ...] = ()
    headers: Callable[[], dict[str, str]] = dict
    # vLLM's shapes and choices (None: a hosted provider's OpenAI shapes).
    dialect: Dialect | None = None
    # Prompt tokens the request found in the prefix cache, once it has run (vLLM's
    # RequestOutput.num_cached_tokens), and whether chat/completions usage reports them
    # (--enable-prompt-tokens-details).
    cached_tokens: Callable[[], int] = lambda: 0
    prompt_tokens_details: bool = False

    def prompt_details(self) -> dict[str, int] | None:
        cached = self.cached_tokens()
        return {"cached_tokens": cached} if self.prompt_tokens_details and cached else None


def rid_of(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _failure(serving: Serving, exc: Exception) -> SimError:
    return SimError(500, str(exc) or type(exc).__name__)


async def wait_for_reply(
    request: Request, serving: Serving, prompt: int, reply: Reply
) -> Response | None:
    """Pace a whole reply; a 499 response if the client left, ``None`` once it is done."""
    return await wait_for_replies(request, serving, prompt, [reply])


async def wait_for_replies(
    request: Request, serving: Serving, prompt: int, replies: Sequence[Reply]
) -> Response | None:
    """Pace the replies of every choice, side by side; a 499 response if the client left,
    ``None`` once all are done. The engine's finish is reported for each."""
    counts = [reply.completion_tokens for reply in replies]
    try:
        await until_disconnect(request, drain_all(serving.pacer, prompt, counts))
    except ClientGone:
        for _ in replies:
            serving.on_finish("abort")
        return Response(status_code=499)
    except serving.failures as exc:
        for _ in replies:
            serving.on_finish("abort")
        raise _failure(serving, exc) from exc
    for reply in replies:
        serving.on_finish(reply.engine_finish)
    return None


async def guarded(
    events: AsyncGenerator[bytes, None],
    serving: Serving,
    replies: Sequence[Reply],
    *,
    error: Callable[[Exception], bytes],
    last: bytes | None = DONE,
) -> AsyncIterator[bytes]:
    """``events``, then ``last``; the engine's finish is reported for each reply once the
    stream ends: the reply's own when every event went, "abort" when it failed (``error`` is
    sent instead of the rest) or the client left."""
    finished = False
    try:
        async for event in events:
            yield event
        finished = True
    except serving.failures as exc:
        yield error(exc)
    finally:
        for reply in replies:
            serving.on_finish(reply.engine_finish if finished else "abort")
        await events.aclose()
    if last is not None:
        yield last


def guarded_sse(
    events: AsyncGenerator[bytes, None], serving: Serving, *replies: Reply
) -> AsyncIterator[bytes]:
    """A chat or completions stream: a failure is the simulator's error chunk, the end [DONE]."""
    return guarded(events, serving, replies, error=lambda exc: sse(serving.stream_error(exc)))


def sse_response(gen: AsyncIterator[bytes], serving: Serving) -> StreamingResponse:
    """The SSE response that sends ``gen``'s events."""
    return StreamingResponse(
        gen, media_type="text/event-stream", headers={**SSE_HEADERS, **serving.headers()}
    )
