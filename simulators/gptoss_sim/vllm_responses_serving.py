"""The vLLM simulator's Responses routes: what vLLM checks before generating a response, how
it serves one (whole, streamed or in the background) and the store's routes (retrieve, cancel).

vllm/entrypoints/openai/responses/serving.py (0.17.0): ``create_responses``,
``retrieve_responses``, ``cancel_responses``. The checks common to every API (content type,
model name) are ``gptoss_sim.vllm_serving``'s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gptoss_sim import endpoints, responses_endpoint, vllm_responses, vllm_responses_checks
from gptoss_sim.reply import Reply
from gptoss_sim.responses_api import ResponsesRequest, parse_responses
from gptoss_sim.responses_store import ResponsesStore
from gptoss_sim.streaming import paced, sse
from gptoss_sim.vllm_protocol import Dialect
from gptoss_sim.vllm_request_fields import check_sampling, lax_int
from gptoss_sim.vllm_responses_prompt import HarmonyPrompt, continuing, render


def responses_request(
    body: Mapping[str, Any], dialect: Dialect, store: ResponsesStore
) -> tuple[ResponsesRequest, int, HarmonyPrompt]:
    """A Responses body vLLM serves, its ``max_output_tokens`` as vLLM clamps it, and the
    harmony prompt it renders into (``vllm_responses_prompt``): a follow-up of a kept response
    starts with that turn's prompt and output, as vLLM's ``msg_store`` holds them.

    vllm/entrypoints/openai/responses/serving.py ``create_responses``: model, input checks,
    the background/store refusal, the previous response (404 unless this process holds it),
    the harmony prompt, the prompt's length.
    """
    vllm_responses_checks.check_body(body)
    dialect.check_model(body.get("model"))
    vllm_responses_checks.check_serving(body)
    vllm_responses_checks.store_refusal(body, store.enabled)
    previous = body.get("previous_response_id")
    kept = None if previous is None else store.get(str(previous))
    if previous is not None and kept is None:
        raise vllm_responses_checks.not_found(str(previous))
    vllm_responses_checks.check_prompt(body, dialect)
    before = kept.get("output") if kept is not None else None
    vllm_responses_checks.check_tool_outputs(body, before if isinstance(before, list) else [])
    req = parse_responses(dict(body), require_model=False)
    prompt = render(
        body,
        newer=dialect.newer,
        system_instructions=dialect.system_instructions,
        continued=previous is not None,
    )
    prompt_tokens = prompt.tokens
    if kept is not None:
        prompt_tokens += vllm_responses.history_tokens(kept)
        earlier = store.prompt(str(previous))
        output = kept.get("output")
        if earlier is not None:
            prompt = continuing(earlier, output if isinstance(output, list) else [], prompt)
    requested = lax_int(body.get("max_output_tokens"), "max_output_tokens")
    max_output = dialect.responses_max_tokens(prompt_tokens, requested)
    check_sampling(body)
    items = body.get("input")
    answered = (
        isinstance(items, list)
        and bool(items)
        and isinstance(items[-1], dict)
        and items[-1].get("type") == "function_call_output"
    )
    ask = replace(
        req.ask, max_tokens=max_output, tool=vllm_responses_checks.pick_function(body, answered)
    )
    req = replace(
        req, model=req.model or dialect.served_model, ask=ask, prompt_tokens=prompt_tokens
    )
    return req, max_output, prompt


async def serve_response(
    request: Request,
    req: ResponsesRequest,
    reply: Reply,
    serving: endpoints.Serving,
    store: ResponsesStore,
    max_output: int,
    prompt: HarmonyPrompt | None = None,
) -> Response:
    """Serve a Responses request: whole, streamed or in the background, keeping it (and
    ``prompt``, what it rendered into) in the store when the store is on and the request has
    ``store`` (the default)."""
    assert serving.dialect is not None
    builder = vllm_responses.VllmResponseBuilder(
        serving.dialect, req, reply, int(time.time()), req.model, max_output,
        cached_tokens=serving.cached_tokens,
    )  # fmt: skip
    keep = store.enabled and bool(req.body.get("store", True))
    if req.body.get("background"):
        return _background(req, reply, serving, store, builder, prompt)

    def kept(response: dict[str, Any]) -> None:
        store.put(response, prompt)

    response, _ = await responses_endpoint.response(
        request, req, reply, serving, builder.created,
        builder=builder, on_done=kept if keep else None,
    )  # fmt: skip
    return response


def _background(
    req: ResponsesRequest,
    reply: Reply,
    serving: endpoints.Serving,
    store: ResponsesStore,
    builder: vllm_responses.VllmResponseBuilder,
    prompt: HarmonyPrompt | None,
) -> Response:
    queued = builder.whole(status="queued", usage=None)
    store.put(queued, prompt)
    rid = builder.id

    async def run() -> None:
        finished = False
        try:
            if req.stream:
                for event in builder.opening():
                    store.add_event(rid, event)
            async for group in paced(serving.pacer, req.prompt_tokens, reply.pieces()):
                if req.stream:
                    for event in builder.deltas(group):
                        store.add_event(rid, event)
            if req.stream:
                events = builder.closing(builder.usage())
                store.put(events[-1]["response"])
                for event in events:
                    store.add_event(rid, event)
            else:
                store.put(builder.whole(status="completed", usage=builder.usage()))
            finished = True
        except serving.failures:
            store.fail(rid)
        finally:
            serving.on_finish(reply.engine_finish if finished else "abort")
            store.close_events(rid)

    if req.stream:
        store.open_events(rid)
        store.run(rid, run())
        return _sse(store.replay(rid), serving)
    store.run(rid, run())
    return JSONResponse(queued, headers=serving.headers())


def _sse(events: AsyncIterator[dict[str, Any]], serving: endpoints.Serving) -> Response:
    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield sse(event, event["type"])

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={**endpoints.SSE_HEADERS, **serving.headers()},
    )


async def retrieve(request: Request, store: ResponsesStore) -> Response:
    """``GET /v1/responses/{id}[?stream=true&starting_after=N]`` (``retrieve_responses``)."""
    response_id = request.path_params["response_id"]
    kept = store.get(response_id)
    if kept is None:
        raise vllm_responses_checks.not_found(response_id)
    if request.query_params.get("stream", "false").lower() in ("true", "1"):
        after = request.query_params.get("starting_after")
        events = store.replay(response_id, int(after) if after is not None else None)
        return StreamingResponse(
            (sse(e, e["type"]) async for e in events),
            media_type="text/event-stream",
            headers=endpoints.SSE_HEADERS,
        )
    return JSONResponse(kept)


async def cancel(request: Request, store: ResponsesStore) -> Response:
    """``POST /v1/responses/{id}/cancel`` (``cancel_responses``)."""
    response_id = request.path_params["response_id"]
    kept = await store.cancel(response_id)
    if kept is None:
        raise vllm_responses_checks.not_found(response_id)
    return JSONResponse(kept)
