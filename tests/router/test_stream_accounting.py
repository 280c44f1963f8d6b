"""What a request is charged when its usage never comes: a stream the client leaves or the
upstream cuts, and an attempt that fails half way through a gathered answer, are charged what
they generated (an estimate, counted as such), so leaving early does not dodge a budget."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from aiohttp import web
from live import LiveRouter, eventually
from paced_upstreams import Paced, event, events, paced_client
from prometheus_client import CollectorRegistry
from router_fakes import APP_KEY, MODEL, Upstreams, chat_reply, provider, running_router, sse

from gptoss_router.openai.generated import Generated
from gptoss_router.settings import RouterSettings

pytestmark = pytest.mark.timeout(60)

GROQ_MODEL = "openai/gpt-oss-120b"
WORD = "word "  # 5 bytes of generated text a chunk
AUTH = {"authorization": f"Bearer {APP_KEY}", "content-type": "application/json"}
# Prices per million tokens, high enough that one early leave spends the day's budget.
PRICE_IN, PRICE_OUT = 1000.0, 6000.0


def _chunk(delta: dict[str, Any], model: str = GROQ_MODEL) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
    }


def _config(*, budget: float = 1000.0, **tuning: Any) -> RouterSettings:
    priced = {
        "models": {MODEL: {"id": GROQ_MODEL, "price": {"input": PRICE_IN, "output": PRICE_OUT}}}
    }
    return RouterSettings(
        models={MODEL: {"local": {"pods": []}, "spillover": {}}},
        providers=[
            {**provider("groq", "groq", price_out=0, key="gsk-a", model_id=GROQ_MODEL), **priced},
            provider("fireworks", "fireworks", price_out=9000, key="fw-a", model_id=GROQ_MODEL),
        ],
        apps=[{"name": "app", "key": APP_KEY, "limits": {"dollars_per_day": budget}}],
        tuning={
            "first_byte_timeout_s": 2.0,
            "idle_timeout_s": 2.0,
            "response_timeout_s": 10.0,
            "probe_interval_s": 60,
            **tuning,
        },
    )  # type: ignore[arg-type]


def _request(*, stream: bool) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a long story"}]}
    return json.dumps({**body, "stream": stream} if stream else body).encode()


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _dollars(input_tokens: float, output_tokens: float) -> float:
    return (input_tokens * PRICE_IN + output_tokens * PRICE_OUT) / 1e6


# --- the estimate (pure) ---------------------------------------------------------------------


def test_generated_text_is_measured_per_event_and_estimated_at_four_bytes_a_token() -> None:
    generated = Generated("chat")
    chunks = [
        _chunk({"role": "assistant", "content": ""}),  # no text yet
        _chunk({"reasoning": "The user wants a story."}),
        *(_chunk({"content": WORD}) for _ in range(3)),
        _chunk({"content": 'a "quoted" word'}),  # measured as streamed: escaped
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Lyon"}'}}]}),
        {**_chunk({}), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    for chunk in chunks:
        generated.measure(sse(chunk))
    texts = [23, 5, 5, 5, len(r"a \"quoted\" word"), len(r"{\"city\": \"Lyon\"}")]
    assert (generated.events, generated.texts) == (8, 6)
    assert generated.text_bytes == sum(texts)
    assert generated.output_tokens() == math.ceil(sum(texts) / 4)


def test_at_least_one_token_is_counted_for_each_event_that_carried_text() -> None:
    generated = Generated("completions")
    for digit in "1234567":
        generated.measure(sse({"choices": [{"index": 0, "text": digit}]}))
    assert generated.output_tokens() == 7


def test_only_the_deltas_of_a_responses_stream_are_counted() -> None:
    generated = Generated("responses")
    for kind, doc in [
        ("response.output_text.delta", {"delta": "Hello"}),
        ("response.output_text.delta", {"delta": " there"}),
        ("response.output_text.done", {"text": "Hello there"}),
        ("response.completed", {"response": {"output": [{"text": "Hello there"}]}}),
    ]:
        generated.measure(event({"type": kind, **doc}, kind))
    assert (generated.texts, generated.text_bytes) == (2, 11)


# --- through the router ----------------------------------------------------------------------


def _cut(chunks: int) -> httpx.Response:
    """A stream that ends after ``chunks`` chunks of text: no finish, no usage, no [DONE]."""
    body = sse(_chunk({"role": "assistant", "content": ""}), *[_chunk({"content": WORD})] * chunks)
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


async def test_a_stream_the_upstream_cuts_is_charged_an_estimate_of_what_it_generated() -> None:
    upstreams = Upstreams({"groq.test": lambda request: _cut(10)})
    registry = CollectorRegistry()
    body = _request(stream=True)
    async with running_router(_config(), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", content=body, headers=AUTH)
    assert "The upstream ended the stream early." in answer.text
    input_tokens, output_tokens = len(body) // 4, max(10, math.ceil(10 * len(WORD) / 4))
    tokens = "gptoss_router_tokens_total"
    assert _value(registry, tokens, backend="groq", direction="input", outcome="interrupted") == (
        input_tokens
    )
    assert _value(registry, tokens, backend="groq", direction="output", outcome="interrupted") == (
        output_tokens
    )
    estimated = "gptoss_router_estimated_tokens_total"
    assert _value(registry, estimated, backend="groq", direction="output") == output_tokens
    assert _value(registry, "gptoss_router_app_tokens_total", app="app", direction="output") == (
        output_tokens
    )
    assert _value(registry, "gptoss_router_app_cost_dollars_total", app="app") == pytest.approx(
        _dollars(input_tokens, output_tokens)
    )


async def test_an_attempt_failing_half_way_through_a_gathered_answer_is_charged_too() -> None:
    """groq generates eight chunks and dies; fireworks answers whole. The app is charged both:
    groq bills what it generated although the client never saw it."""
    upstreams = Upstreams(
        {
            "groq.test": lambda request: _cut(8),
            "fireworks.test": lambda request: chat_reply(GROQ_MODEL),  # usage: 10 in, 20 out
        }
    )
    registry = CollectorRegistry()
    body = _request(stream=False)
    async with running_router(_config(), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", content=body, headers=AUTH)
    assert answer.status_code == 200 and answer.headers["x-gptoss-backend"] == "fireworks"
    groq_in, groq_out = len(body) // 4, math.ceil(8 * len(WORD) / 4)
    tokens = "gptoss_router_tokens_total"
    assert _value(registry, tokens, backend="groq", direction="output", outcome="interrupted") == (
        groq_out
    )
    assert _value(registry, tokens, backend="fireworks", direction="output", outcome="ok") == 20
    assert _value(registry, "gptoss_router_app_tokens_total", app="app", direction="output") == (
        groq_out + 20
    )
    fireworks = (10 * 0.15 + 20 * 9000) / 1e6
    assert _value(registry, "gptoss_router_app_cost_dollars_total", app="app") == pytest.approx(
        _dollars(groq_in, groq_out) + fireworks
    )


def _long_story(chunks: int) -> Any:
    async def answer(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        text = [event(_chunk({"content": WORD})) for _ in range(chunks)]
        paced = [piece for chunk in text for piece in (0.01, chunk)]
        return await events(request, [event(_chunk({"role": "assistant"})), *paced])

    return answer


async def _closed(router: LiveRouter, backend: str) -> None:
    cancelled = {"route": "chat", "model": MODEL, "backend": backend, "outcome": "cancelled"}

    async def counted() -> bool:
        return bool(_value(router.registry, "gptoss_router_requests_total", **cancelled))

    await eventually(counted, what="the request to be closed as cancelled", within=10)


async def test_a_client_leaving_a_stream_early_is_charged_and_then_held_to_its_budget() -> None:
    upstreams = Paced({"groq.test": _long_story(500)})
    async with paced_client(_config(budget=0.2), upstreams) as (router, client):
        received = 0
        async with client.stream(
            "POST", "/v1/chat/completions", content=_request(stream=True), headers=AUTH
        ) as answer:
            async for line in answer.aiter_lines():
                received += WORD in line
                if received == 40:
                    break  # leaves long before the usage chunk
        await _closed(router, "groq")
        again = await client.post(
            "/v1/chat/completions", content=_request(stream=True), headers=AUTH
        )
    registry = router.registry
    charged = _value(registry, "gptoss_router_app_tokens_total", app="app", direction="output")
    assert charged >= 40  # at least what the client got
    assert charged == _value(
        registry, "gptoss_router_estimated_tokens_total", backend="groq", direction="output"
    )
    assert _value(registry, "gptoss_router_app_cost_dollars_total", app="app") > 0.2
    assert again.status_code == 429 and again.json()["error"]["type"] == "insufficient_quota"

    async def stopped() -> bool:
        return upstreams.left == ["groq.test"]

    await eventually(stopped, what="the upstream to see the router leave", within=10)


async def test_a_client_leaving_before_its_gathered_answer_is_charged_what_was_generated() -> None:
    upstreams = Paced({"groq.test": _long_story(2000)})
    async with paced_client(_config(), upstreams, timeout=0.5) as (router, client):
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/chat/completions", content=_request(stream=False), headers=AUTH)
        await _closed(router, "none")
    registry = router.registry
    generated = _value(
        registry,
        "gptoss_router_tokens_total",
        backend="groq",
        direction="output",
        outcome="cancelled",
    )
    assert generated > 0
    assert _value(registry, "gptoss_router_app_tokens_total", app="app", direction="output") == (
        generated
    )
    assert _value(registry, "gptoss_router_app_cost_dollars_total", app="app") > 0


def _responses_cut(deltas: int) -> httpx.Response:
    """A Responses stream that ends after ``deltas`` text deltas: no usage, no terminal event."""
    response = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    created = {"type": "response.created", "sequence_number": 0, "response": response}
    delta = {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": WORD,
    }
    body = b"".join(
        b"event: %s\ndata: %s\n\n" % (e["type"].encode(), json.dumps(e).encode())  # type: ignore[index]
        for e in [created, *[{**delta, "sequence_number": n + 1} for n in range(deltas)]]
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


async def test_a_responses_stream_the_upstream_cuts_is_charged_an_estimate_too() -> None:
    upstreams = Upstreams({"groq.test": lambda request: _responses_cut(10)})
    registry = CollectorRegistry()
    body = json.dumps({"model": MODEL, "input": "a long story", "stream": True, "store": False})
    async with running_router(_config(), upstreams, registry) as client:
        answer = await client.post("/v1/responses", content=body, headers=AUTH)
    assert "response.failed" in answer.text
    estimated = "gptoss_router_estimated_tokens_total"
    assert _value(registry, estimated, backend="groq", direction="output") == max(
        10, math.ceil(10 * len(WORD) / 4)
    )
