"""The Responses endpoint shared by every simulator: one response, whole or as its SSE events.

It paces the planned reply with the simulator's pacer, as the chat and completions endpoints do
(``gptoss_sim.endpoints``), and writes what its ``Builder`` builds: OpenAI's shapes
(``gptoss_sim.responses_builder.ResponseBuilder``) or vLLM's (``gptoss_sim.vllm_responses``). The
final response object goes to ``on_done`` once complete, for a store to keep.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gptoss_sim.endpoints import Serving, guarded, sse_response, wait_for_reply
from gptoss_sim.reply import Channel, Reply
from gptoss_sim.responses_api import ResponsesRequest
from gptoss_sim.responses_builder import ResponseBuilder
from gptoss_sim.streaming import paced, sse


class Builder(Protocol):
    """A response object and its stream of events (``ResponseBuilder``, vLLM's builder)."""

    id: str

    def whole(self, *, status: str, usage: dict[str, Any] | None) -> dict[str, Any]: ...
    def usage(self) -> dict[str, Any]: ...
    def opening(self) -> list[dict[str, Any]]: ...
    def deltas(self, pieces: list[tuple[Channel, str]]) -> list[dict[str, Any]]: ...
    def closing(self, usage: dict[str, Any]) -> list[dict[str, Any]]: ...


async def response(
    request: Request,
    req: ResponsesRequest,
    reply: Reply,
    serving: Serving,
    created: int,
    *,
    builder: Builder | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Response, Builder]:
    """Serve one response; ``on_done`` gets the final response object once it is complete."""
    built: Builder = builder or ResponseBuilder(req, reply, created, req.model)
    if not req.stream:
        gone = await wait_for_reply(request, serving, req.prompt_tokens, reply)
        if gone is not None:
            return gone, built
        body = built.whole(status="completed", usage=built.usage())
        if on_done is not None:
            on_done(body)
        return JSONResponse(body, headers=serving.headers()), built
    return sse_response(response_events(req, reply, serving, built, on_done), serving), built


async def response_events(
    req: ResponsesRequest,
    reply: Reply,
    serving: Serving,
    builder: Builder,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE events of a streamed response; a failure ends them with an ``error`` event."""

    async def events() -> AsyncGenerator[bytes, None]:
        for event in builder.opening():
            yield sse(event, event["type"])
        async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
            for event in builder.deltas(group):
                yield sse(event, event["type"])
        closing = builder.closing(builder.usage())
        if on_done is not None:
            on_done(closing[-1]["response"])
        for event in closing:
            yield sse(event, event["type"])

    def error(exc: Exception) -> bytes:
        return sse({"type": "error", "message": str(exc), "code": None, "param": None}, "error")

    async for chunk in guarded(events(), serving, [reply], error=error, last=None):
        yield chunk
