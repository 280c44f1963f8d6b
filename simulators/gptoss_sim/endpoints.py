"""How a simulator serves, and the completions endpoint shared by every simulator.

An endpoint takes a parsed request and its planned reply, paces the reply with the simulator's
pacer (the engine for vLLM, a latency model for providers) and writes it whole or as SSE. A
``Serving`` with a vLLM ``dialect`` writes vLLM's shapes (``gptoss_sim.completions.vllm_object``
here, the chat shapes in ``gptoss_sim.chat_endpoint``); without one, OpenAI's. The chat and
Responses endpoints (``gptoss_sim.responses_endpoint``) serve with the same ``Serving``, waiting
(:func:`wait_for_replies`) and streaming (:func:`sse_response`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptoss_sim import chat_format, completions
from gptoss_sim.completions import CompletionRequest
from gptoss_sim.errors import SimError
from gptoss_sim.reply import Reply
from gptoss_sim.streaming import DONE, ClientGone, Pacer, drain_all, paced, sse, until_disconnect
from gptoss_sim.vllm_protocol import Dialect, random_uuid

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


async def completion(request: Request, req: CompletionRequest, serving: Serving) -> Response:
    if serving.dialect is not None:
        return await _vllm_completion(request, req, serving, serving.dialect)
    rid, created, reply = rid_of("cmpl"), int(time.time()), req.reply
    usage = chat_format.usage(req.prompt_tokens, reply.completion_tokens)
    if not req.stream:
        gone = await wait_for_reply(request, serving, req.prompt_tokens, reply)
        if gone is not None:
            return gone
        text = "".join(reply.content)
        choices = [completions.choice(text, reply.finish_reason)]
        body = completions.completion_object(rid, req.model, created, choices, usage)
        return JSONResponse(body, headers=serving.headers())

    async def events() -> AsyncGenerator[bytes, None]:
        no_usage: Any = None if req.include_usage else ...
        async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
            choices = [completions.choice("".join(t for _, t in group), None)]
            yield sse(completions.completion_object(rid, req.model, created, choices, no_usage))
        choices = [completions.choice("", reply.finish_reason)]
        yield sse(completions.completion_object(rid, req.model, created, choices, no_usage))
        if req.include_usage:
            yield sse(completions.completion_object(rid, req.model, created, [], usage))

    return sse_response(guarded_sse(events(), serving, reply), serving)


async def _vllm_completion(
    request: Request, req: CompletionRequest, serving: Serving, dialect: Dialect
) -> Response:
    rid = f"cmpl-{request.headers.get('x-request-id') or random_uuid()}"
    created, reply, model = int(time.time()), req.reply, req.model or dialect.served_model
    usage = chat_format.usage(req.prompt_tokens, reply.completion_tokens)
    if not req.stream:
        gone = await wait_for_reply(request, serving, req.prompt_tokens, reply)
        if gone is not None:
            return gone
        text = "".join(reply.content)
        choices = [completions.vllm_choice(text, reply.finish_reason, stream=False)]
        details = serving.prompt_details()
        body = completions.vllm_object(
            rid, model, created, choices, usage | {"prompt_tokens_details": details}, stream=False
        )
        return JSONResponse(body, headers=serving.headers())

    async def events() -> AsyncGenerator[bytes, None]:
        sent, total = 0, len(reply.pieces())
        async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
            sent += len(group)
            finish = reply.finish_reason if sent >= total else None
            text = "".join(t for _, t in group)
            choices = [completions.vllm_choice(text, finish, stream=True)]
            yield sse(completions.vllm_object(rid, model, created, choices, None, stream=True))
        if req.include_usage:
            details = serving.prompt_details()
            final = usage | ({"prompt_tokens_details": details} if details else {})
            yield sse(completions.vllm_object(rid, model, created, [], final, stream=True))

    return sse_response(guarded_sse(events(), serving, reply), serving)
