"""The ``/v1/completions`` endpoint of every simulator: whole or streamed, one choice or ``n``,
with logprobs when asked (``gptoss_sim.completions``), in OpenAI's shapes or vLLM's
(``vllm/entrypoints/openai/completion/serving.py``: every choice under its ``index``, each
stream chunk one choice's, the usage the sum of all)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gptoss_sim import chat_format, completions
from gptoss_sim.completions import CompletionRequest, text_logprobs
from gptoss_sim.endpoints import Serving, guarded_sse, rid_of, sse_response, wait_for_replies
from gptoss_sim.streaming import paced_choices, sse
from gptoss_sim.vllm_protocol import random_uuid

__all__ = ["completion"]


def _choice(
    req: CompletionRequest,
    vllm: bool,
    index: int,
    texts: list[str],
    finish: str | None,
    *,
    start: int = 0,
    offset: int = 0,
    stream: bool = False,
) -> dict[str, Any]:
    found = text_logprobs(f"{req.prompt}:{index}", texts, req.logprobs, start=start, offset=offset)
    text = "".join(texts)
    if vllm:
        return completions.vllm_choice(
            text, finish, stream=stream, index=index, token_logprobs=found
        )
    return completions.choice(text, finish, index=index, token_logprobs=found)


async def completion(request: Request, req: CompletionRequest, serving: Serving) -> Response:
    """Serve ``req``, a reply per choice."""
    vllm = serving.dialect is not None
    if serving.dialect is not None:
        rid = f"cmpl-{request.headers.get('x-request-id') or random_uuid()}"
        model = req.model or serving.dialect.served_model
    else:
        rid, model = rid_of("cmpl"), req.model
    created, replies = int(time.time()), req.replies
    generated = sum(reply.completion_tokens for reply in replies)
    usage = chat_format.usage(req.prompt_tokens, generated)

    def body(choices: list[dict[str, Any]], usage: Any, *, stream: bool) -> dict[str, Any]:
        if vllm:
            return completions.vllm_object(rid, model, created, choices, usage, stream=stream)
        return completions.completion_object(rid, model, created, choices, usage)

    if not req.stream:
        gone = await wait_for_replies(request, serving, req.prompt_tokens, replies)
        if gone is not None:
            return gone
        choices = [
            _choice(req, vllm, i, list(reply.content), reply.finish_reason)
            for i, reply in enumerate(replies)
        ]
        whole = usage | {"prompt_tokens_details": serving.prompt_details()} if vllm else usage
        return JSONResponse(body(choices, whole, stream=False), headers=serving.headers())

    async def events() -> AsyncGenerator[bytes, None]:
        # vLLM dumps every chunk with usage null; OpenAI's carry it only when usage is asked.
        no_usage: Any = None if vllm or req.include_usage else ...
        pieces = [reply.pieces() for reply in replies]
        sent = [0] * len(replies)
        offsets = [0] * len(replies)
        async for i, group in paced_choices(serving.pacer, req.prompt_tokens, pieces):
            texts = [t for _, t in group]
            start, sent[i] = sent[i], sent[i] + len(group)
            done = sent[i] >= len(pieces[i])
            finish = replies[i].finish_reason if vllm and done else None
            choice = _choice(
                req, vllm, i, texts, finish, start=start, offset=offsets[i], stream=True
            )
            offsets[i] += len("".join(texts))
            yield sse(body([choice], no_usage, stream=True))
            if done and not vllm:
                closing = completions.choice("", replies[i].finish_reason, index=i)
                yield sse(body([closing], no_usage, stream=True))
        if req.include_usage:
            details = serving.prompt_details() if vllm else None  # known once it ran
            final = usage | ({"prompt_tokens_details": details} if details else {})
            yield sse(body([], final, stream=True))

    return sse_response(guarded_sse(events(), serving, *replies), serving)
