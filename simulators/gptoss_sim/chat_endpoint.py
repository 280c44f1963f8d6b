"""The ``/v1/chat/completions`` endpoint of every simulator: whole or streamed, one choice or
``n``, in OpenAI's shapes (``gptoss_sim.chat_format``) or vLLM's
(``gptoss_sim.vllm_chat_completion``, ``gptoss_sim.vllm_chat_stream``).

The replies of a request's choices are paced side by side through the simulator's pacer
(``gptoss_sim.streaming.paced_choices``): vLLM runs a request for ``n`` choices as ``n``
sequences in its engine, each finishing on its own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gptoss_sim import chat_format, vllm_chat_completion
from gptoss_sim.chat_request import ChatRequest
from gptoss_sim.endpoints import Serving, guarded_sse, rid_of, sse_response, wait_for_replies
from gptoss_sim.reply import Reply
from gptoss_sim.streaming import paced_choices, sse
from gptoss_sim.vllm_chat_request import tool_choice_of
from gptoss_sim.vllm_chat_stream import ChunkWriter
from gptoss_sim.vllm_chat_view import View
from gptoss_sim.vllm_protocol import Dialect, random_uuid

__all__ = ["chat"]


async def chat(
    request: Request, chat: ChatRequest, replies: Sequence[Reply], serving: Serving
) -> Response:
    """Serve ``chat`` with one reply per choice."""
    if serving.dialect is not None:
        return await _vllm_chat(request, chat, replies, serving, serving.dialect)
    rid, created, model = rid_of("chatcmpl"), int(time.time()), chat.model
    call_id = serving.tool_call_id()
    if not chat.stream:
        gone = await wait_for_replies(request, serving, chat.prompt_tokens, replies)
        if gone is not None:
            return gone
        body = chat_format.completion(
            replies, rid=rid, model=model, created=created, prompt_tokens=chat.prompt_tokens,
            style=serving.style, tool_call_id=call_id, top_logprobs=chat.top_logprobs,
            logprobs_key=chat.ask.seed,
        )  # fmt: skip
        return JSONResponse(body, headers=serving.headers())
    writers = [
        chat_format.ChunkWriter(
            rid,
            model,
            created,
            serving.style,
            chat.include_usage,
            call_id,
            tool_name=reply.tool_call.name if reply.tool_call else None,
            index=index,
            top_logprobs=chat.top_logprobs,
            logprobs_key=chat.ask.seed,
        )
        for index, reply in enumerate(replies)
    ]

    async def events() -> AsyncGenerator[bytes, None]:
        for writer in writers:
            yield sse(writer.opening())
        pieces = [reply.pieces() for reply in replies]
        sent = [0] * len(replies)
        async for index, group in paced_choices(serving.pacer, chat.prompt_tokens, pieces):
            for chunk in writers[index].deltas(group):
                yield sse(chunk)
            sent[index] += len(group)
            if sent[index] >= len(pieces[index]):
                yield sse(writers[index].closing(replies[index].finish_reason))
        for index, reply in enumerate(replies):
            if not pieces[index]:  # nothing generated: closed here
                yield sse(writers[index].closing(reply.finish_reason))
        if chat.include_usage:
            generated = sum(reply.completion_tokens for reply in replies)
            yield sse(writers[0].usage_chunk(chat.prompt_tokens, generated))

    return sse_response(guarded_sse(events(), serving, *replies), serving)


async def _vllm_chat(
    request: Request,
    chat: ChatRequest,
    replies: Sequence[Reply],
    serving: Serving,
    dialect: Dialect,
) -> Response:
    view = View(dialect, tool_choice_of(chat.body), chat.include_reasoning, stream=chat.stream)
    rid = f"chatcmpl-{request.headers.get('x-request-id') or random_uuid()}"
    created, model = int(time.time()), chat.model or dialect.served_model
    if not chat.stream:
        gone = await wait_for_replies(request, serving, chat.prompt_tokens, replies)
        if gone is not None:
            return gone
        body = vllm_chat_completion.completion(
            view, replies, rid=rid, model=model, created=created,
            prompt_tokens=chat.prompt_tokens, details=serving.prompt_details(),
            top_logprobs=chat.top_logprobs, logprobs_key=chat.ask.seed,
        )  # fmt: skip
        return JSONResponse(body, headers=serving.headers())
    options = chat.body.get("stream_options") or {}
    writers = [
        ChunkWriter(
            view,
            rid,
            model,
            created,
            chat.prompt_tokens,
            reply,
            include_usage=chat.include_usage,
            continuous_usage=chat.include_usage and bool(options.get("continuous_usage_stats")),
            index=index,
            top_logprobs=chat.top_logprobs,
            logprobs_key=chat.ask.seed,
        )
        for index, reply in enumerate(replies)
    ]

    async def events() -> AsyncGenerator[bytes, None]:
        opened = False
        pieces = [reply.pieces() for reply in replies]
        async for index, group in paced_choices(serving.pacer, chat.prompt_tokens, pieces):
            if not opened:
                # vLLM sends every choice's role chunk with the first engine output
                # (chat_completion_stream_generator, ``first_iteration``).
                opened = True
                for writer in writers:
                    yield sse(writer.opening())
            chunk = writers[index].group(len(group))
            if chunk is not None:
                yield sse(chunk)
        if chat.include_usage:
            yield sse(writers[0].usage_chunk(replies, serving.prompt_details()))

    return sse_response(guarded_sse(events(), serving, *replies), serving)
