"""The three generating endpoints, shared by every simulator: chat, completions, responses.

Each takes a parsed request and its planned reply, paces the reply with the simulator's pacer
(the engine for vLLM, a latency model for providers) and writes it whole or as SSE.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptoss_sim import chat_format, completions
from gptoss_sim.chat_request import ChatRequest
from gptoss_sim.completions import CompletionRequest
from gptoss_sim.errors import SimError
from gptoss_sim.reply import Reply
from gptoss_sim.responses_api import ResponseBuilder, ResponsesRequest, response_usage
from gptoss_sim.streaming import DONE, ClientGone, Pacer, drain, paced, sse, until_disconnect

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
    zero_response_usage: bool = False
    headers: Callable[[], dict[str, str]] = dict


def _rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _failure(serving: Serving, exc: Exception) -> SimError:
    return SimError(500, str(exc) or type(exc).__name__)


async def _wait(request: Request, serving: Serving, prompt: int, reply: Reply) -> Response | None:
    try:
        await until_disconnect(request, drain(serving.pacer, prompt, reply.completion_tokens))
    except ClientGone:
        serving.on_finish("abort")
        return Response(status_code=499)
    except serving.failures as exc:
        serving.on_finish("abort")
        raise _failure(serving, exc) from exc
    serving.on_finish(reply.finish_reason)
    return None


def _stream(gen: AsyncIterator[bytes], serving: Serving) -> StreamingResponse:
    return StreamingResponse(
        gen, media_type="text/event-stream", headers={**SSE_HEADERS, **serving.headers()}
    )


async def chat(request: Request, chat: ChatRequest, reply: Reply, serving: Serving) -> Response:
    rid, created, model = _rid("chatcmpl"), int(time.time()), chat.model
    call_id = serving.tool_call_id()
    if not chat.stream:
        gone = await _wait(request, serving, chat.prompt_tokens, reply)
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

    async def events() -> AsyncIterator[bytes]:
        finished = False
        try:
            yield sse(writer.opening())
            async for group in paced(serving.pacer, chat.prompt_tokens, reply.pieces()):
                for chunk in writer.deltas(group):
                    yield sse(chunk)
            yield sse(writer.closing(reply.finish_reason))
            if chat.include_usage:
                yield sse(writer.usage_chunk(chat.prompt_tokens, reply.completion_tokens))
            finished = True
        except serving.failures as exc:
            yield sse(serving.stream_error(exc))
        finally:
            serving.on_finish(reply.finish_reason if finished else "abort")
        yield DONE

    return _stream(events(), serving)


async def completion(request: Request, req: CompletionRequest, serving: Serving) -> Response:
    rid, created, reply = _rid("cmpl"), int(time.time()), req.reply
    usage = chat_format.usage(req.prompt_tokens, reply.completion_tokens)
    if not req.stream:
        gone = await _wait(request, serving, req.prompt_tokens, reply)
        if gone is not None:
            return gone
        text = "".join(reply.content)
        choices = [completions.choice(text, reply.finish_reason)]
        body = completions.completion_object(rid, req.model, created, choices, usage)
        return JSONResponse(body, headers=serving.headers())

    async def events() -> AsyncIterator[bytes]:
        no_usage: Any = None if req.include_usage else ...
        finished = False
        try:
            async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
                choices = [completions.choice("".join(t for _, t in group), None)]
                yield sse(completions.completion_object(rid, req.model, created, choices, no_usage))
            choices = [completions.choice("", reply.finish_reason)]
            yield sse(completions.completion_object(rid, req.model, created, choices, no_usage))
            if req.include_usage:
                yield sse(completions.completion_object(rid, req.model, created, [], usage))
            finished = True
        except serving.failures as exc:
            yield sse(serving.stream_error(exc))
        finally:
            serving.on_finish(reply.finish_reason if finished else "abort")
        yield DONE

    return _stream(events(), serving)


async def response(
    request: Request, req: ResponsesRequest, reply: Reply, serving: Serving, created: int
) -> tuple[Response, ResponseBuilder]:
    builder = ResponseBuilder(req, reply, created, req.model)
    usage = response_usage(req.prompt_tokens, reply, zeros=serving.zero_response_usage)
    if not req.stream:
        gone = await _wait(request, serving, req.prompt_tokens, reply)
        if gone is not None:
            return gone, builder
        body = builder.whole(status="completed", usage=usage)
        return JSONResponse(body, headers=serving.headers()), builder

    async def events() -> AsyncIterator[bytes]:
        finished = False
        try:
            for event in builder.opening():
                yield sse(event, event["type"])
            async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
                for event in builder.deltas(group):
                    yield sse(event, event["type"])
            for event in builder.closing(usage):
                yield sse(event, event["type"])
            finished = True
        except serving.failures as exc:
            yield sse({"type": "error", "message": str(exc), "code": None, "param": None}, "error")
        finally:
            serving.on_finish(reply.finish_reason if finished else "abort")

    return _stream(events(), serving), builder
