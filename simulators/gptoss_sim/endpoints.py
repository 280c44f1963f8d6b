"""The chat and completions endpoints shared by every simulator, and how a simulator serves.

Each takes a parsed request and its planned reply, paces the reply with the simulator's pacer
(the engine for vLLM, a latency model for providers) and writes it whole or as SSE. A
``Serving`` with a vLLM ``dialect`` writes vLLM's shapes (``gptoss_sim.vllm_chat_completion``,
``gptoss_sim.vllm_chat_stream``, ``gptoss_sim.completions.vllm_object``); without one,
OpenAI's. The Responses endpoint (``gptoss_sim.responses_endpoint``) serves with the same
``Serving``, waiting (:func:`wait_for_reply`) and streaming (:func:`sse_response`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptoss_sim import chat_format, completions, vllm_chat_completion
from gptoss_sim.chat_request import ChatRequest
from gptoss_sim.completions import CompletionRequest
from gptoss_sim.errors import SimError
from gptoss_sim.reply import Reply
from gptoss_sim.streaming import DONE, ClientGone, Pacer, drain, paced, sse, until_disconnect
from gptoss_sim.vllm_chat_request import tool_choice_of
from gptoss_sim.vllm_chat_stream import ChunkWriter
from gptoss_sim.vllm_chat_view import View
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


def _rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _failure(serving: Serving, exc: Exception) -> SimError:
    return SimError(500, str(exc) or type(exc).__name__)


async def wait_for_reply(
    request: Request, serving: Serving, prompt: int, reply: Reply
) -> Response | None:
    """Pace a whole reply; a 499 response if the client left, ``None`` once it is done."""
    try:
        await until_disconnect(request, drain(serving.pacer, prompt, reply.completion_tokens))
    except ClientGone:
        serving.on_finish("abort")
        return Response(status_code=499)
    except serving.failures as exc:
        serving.on_finish("abort")
        raise _failure(serving, exc) from exc
    serving.on_finish(reply.engine_finish)
    return None


async def guarded(
    events: AsyncGenerator[bytes, None],
    serving: Serving,
    reply: Reply,
    *,
    error: Callable[[Exception], bytes],
    last: bytes | None = DONE,
) -> AsyncIterator[bytes]:
    """``events``, then ``last``; the engine's finish is reported once the stream ends: the
    reply's own when every event went, "abort" when it failed (``error`` is sent instead of the
    rest) or the client left."""
    finished = False
    try:
        async for event in events:
            yield event
        finished = True
    except serving.failures as exc:
        yield error(exc)
    finally:
        serving.on_finish(reply.engine_finish if finished else "abort")
        await events.aclose()
    if last is not None:
        yield last


def _guarded(
    events: AsyncGenerator[bytes, None], serving: Serving, reply: Reply
) -> AsyncIterator[bytes]:
    """A chat or completions stream: a failure is the simulator's error chunk, the end [DONE]."""
    return guarded(events, serving, reply, error=lambda exc: sse(serving.stream_error(exc)))


def sse_response(gen: AsyncIterator[bytes], serving: Serving) -> StreamingResponse:
    """The SSE response that sends ``gen``'s events."""
    return StreamingResponse(
        gen, media_type="text/event-stream", headers={**SSE_HEADERS, **serving.headers()}
    )


async def chat(request: Request, chat: ChatRequest, reply: Reply, serving: Serving) -> Response:
    if serving.dialect is not None:
        return await _vllm_chat(request, chat, reply, serving, serving.dialect)
    rid, created, model = _rid("chatcmpl"), int(time.time()), chat.model
    call_id = serving.tool_call_id()
    if not chat.stream:
        gone = await wait_for_reply(request, serving, chat.prompt_tokens, reply)
        if gone is not None:
            return gone
        body = chat_format.completion(
            reply, rid=rid, model=model, created=created, prompt_tokens=chat.prompt_tokens,
            style=serving.style, tool_call_id=call_id,
        )  # fmt: skip
        return JSONResponse(body, headers=serving.headers())
    writer = chat_format.ChunkWriter(
        rid, model, created, serving.style, chat.include_usage, call_id,
        tool_name=reply.tool_call.name if reply.tool_call else None,
    )  # fmt: skip

    async def events() -> AsyncGenerator[bytes, None]:
        yield sse(writer.opening())
        async for group in paced(serving.pacer, chat.prompt_tokens, reply.pieces()):
            for chunk in writer.deltas(group):
                yield sse(chunk)
        yield sse(writer.closing(reply.finish_reason))
        if chat.include_usage:
            yield sse(writer.usage_chunk(chat.prompt_tokens, reply.completion_tokens))

    return sse_response(_guarded(events(), serving, reply), serving)


async def _vllm_chat(
    request: Request, chat: ChatRequest, reply: Reply, serving: Serving, dialect: Dialect
) -> Response:
    view = View(dialect, tool_choice_of(chat.body), chat.include_reasoning, stream=chat.stream)
    rid = f"chatcmpl-{request.headers.get('x-request-id') or random_uuid()}"
    created, model = int(time.time()), chat.model or dialect.served_model
    if not chat.stream:
        gone = await wait_for_reply(request, serving, chat.prompt_tokens, reply)
        if gone is not None:
            return gone
        body = vllm_chat_completion.completion(
            view, reply, rid=rid, model=model, created=created, prompt_tokens=chat.prompt_tokens,
            details=serving.prompt_details(),
        )  # fmt: skip
        return JSONResponse(body, headers=serving.headers())
    options = chat.body.get("stream_options") or {}
    writer = ChunkWriter(
        view, rid, model, created, chat.prompt_tokens, reply,
        include_usage=chat.include_usage,
        continuous_usage=chat.include_usage and bool(options.get("continuous_usage_stats")),
    )  # fmt: skip

    async def events() -> AsyncGenerator[bytes, None]:
        opened = False
        async for group in paced(serving.pacer, chat.prompt_tokens, reply.pieces()):
            if not opened:
                # vLLM sends the role chunk with the first engine output
                # (chat_completion_stream_generator, ``first_iteration``).
                opened = True
                yield sse(writer.opening())
            chunk = writer.group(len(group))
            if chunk is not None:
                yield sse(chunk)
        if chat.include_usage:
            yield sse(writer.usage_chunk(serving.prompt_details()))

    return sse_response(_guarded(events(), serving, reply), serving)


async def completion(request: Request, req: CompletionRequest, serving: Serving) -> Response:
    if serving.dialect is not None:
        return await _vllm_completion(request, req, serving, serving.dialect)
    rid, created, reply = _rid("cmpl"), int(time.time()), req.reply
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

    return sse_response(_guarded(events(), serving, reply), serving)


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

    return sse_response(_guarded(events(), serving, reply), serving)
