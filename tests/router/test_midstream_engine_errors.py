"""A backend whose engine fails after the stream's first event (vLLM: ``data: {"error": …}``,
then ``data: [DONE]``, from ``create_streaming_error_response`` in serving_chat.py) broke the
answer the client already started: the stream ends as any stream broken after its first byte
does, with an OpenAI-shaped error event and no ``[DONE]``, and the request counts as
interrupted against the backend, not as an answer that ended well."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from aiohttp import web
from engine_errors import ENGINE_ERROR, chat_chunk, streamed
from paced_upstreams import Paced, event, events, paced_client
from prometheus_client import CollectorRegistry
from router_fakes import COMPLETED_RESPONSE, MODEL, Upstreams, running_router, settings

pytestmark = pytest.mark.timeout(60)

STREAM = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}


def _data(text: str) -> list[Any]:
    """The data of each event of a chat stream the client received."""
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def _requests(registry: CollectorRegistry, outcome: str) -> float:
    labels = {"route": "chat", "model": MODEL, "backend": "local", "outcome": outcome}
    return registry.get_sample_value("gptoss_router_requests_total", labels) or 0.0


async def test_an_engine_error_after_the_first_event_ends_the_stream_in_openais_shape() -> None:
    upstreams = Upstreams(
        {"pod-a.test": lambda request: streamed(chat_chunk("Hel"), ENGINE_ERROR, "[DONE]")}
    )
    async with running_router(settings(providers=[]), upstreams) as client:
        answer = await client.post("/v1/chat/completions", json=STREAM)
    assert answer.status_code == 200 and answer.headers["x-gptoss-backend"] == "local"
    data = _data(answer.text)
    assert data[0] == chat_chunk("Hel")
    assert data[-1] == {
        "error": {
            "message": ENGINE_ERROR["error"]["message"],
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert "[DONE]" not in answer.text  # the answer did not end well
    assert "InternalServerError" not in answer.text


async def test_an_engine_error_after_the_first_event_counts_as_interrupted_against_the_pod() -> (
    None
):
    upstreams = Upstreams(
        {"pod-a.test": lambda request: streamed(chat_chunk("Hel"), ENGINE_ERROR, "[DONE]")}
    )
    registry = CollectorRegistry()
    # One failure ejects a backend: the failure the stream counts against the pod shows.
    config = settings(providers=[], tuning={"consecutive_failures": 1})
    async with running_router(config, upstreams, registry) as client:
        await client.post("/v1/chat/completions", json=STREAM)
    assert _requests(registry, "ok") == 0
    assert _requests(registry, "interrupted") == 1
    assert registry.get_sample_value("gptoss_router_ejections_total", {"backend": "local"}) == 1


async def test_a_pod_that_breaks_every_stream_after_its_first_token_is_ejected_at_defaults() -> (
    None
):
    """Each broken stream had started well: had its start counted as a success, the streak of
    breaks would end at every request and the pod would never be ejected."""
    done = {**chat_chunk(""), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    upstreams = Upstreams(
        {
            "pod-a.test": lambda request: streamed(chat_chunk("Hel"), ENGINE_ERROR, "[DONE]"),
            "pod-b.test": lambda request: streamed(chat_chunk("Hello"), done, "[DONE]"),
        }
    )
    registry = CollectorRegistry()
    pods = ["http://pod-a.test:8000", "http://pod-b.test:8000"]
    async with running_router(settings(pods=pods, providers=[]), upstreams, registry) as client:
        for n in range(40):
            question = {**STREAM, "messages": [{"role": "user", "content": f"question {n}"}]}
            await client.post("/v1/chat/completions", json=question)
    assert registry.get_sample_value("gptoss_router_ejections_total", {"backend": "local"}) == 1
    assert upstreams.hosts().count("pod-a.test") == 5  # consecutive_failures' default


async def test_an_engine_error_that_comes_in_a_later_read_ends_the_stream_the_same_way() -> None:
    async def pod(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        return await events(
            request, [event(chat_chunk("Hel")), 0.05, event(ENGINE_ERROR), event("[DONE]")]
        )

    upstreams = Paced({"pod-a.test": pod})
    async with paced_client(settings(providers=[]), upstreams) as (router, http):
        answer = await http.post("/v1/chat/completions", json=STREAM)
    data = _data(answer.text)
    assert data[0] == chat_chunk("Hel")
    assert data[-1]["error"]["type"] == "server_error" and "[DONE]" not in answer.text
    labels = {"route": "chat", "model": MODEL, "backend": "local", "outcome": "interrupted"}
    assert router.registry.get_sample_value("gptoss_router_requests_total", labels) == 1


async def test_an_in_band_error_the_caller_caused_keeps_its_status_type() -> None:
    refused = {"error": {"message": "bad grammar", "type": "BadRequestError", "code": 400}}
    upstreams = Upstreams(
        {"pod-a.test": lambda request: streamed(chat_chunk("Hel"), refused, "[DONE]")}
    )
    async with running_router(settings(providers=[]), upstreams) as client:
        answer = await client.post("/v1/chat/completions", json=STREAM)
    error = _data(answer.text)[-1]["error"]
    assert error["type"] == "invalid_request_error" and error["message"] == "bad grammar"


async def test_chunks_that_only_mention_an_error_are_relayed_as_they_are() -> None:
    mentions = [chat_chunk('the "error" field'), {**chat_chunk(" is empty"), "error": None}]
    upstreams = Upstreams({"pod-a.test": lambda request: streamed(*mentions, "[DONE]")})
    registry = CollectorRegistry()
    async with running_router(settings(providers=[]), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", json=STREAM)
    assert _data(answer.text) == mentions
    assert answer.text.endswith("data: [DONE]\n\n")
    assert _requests(registry, "ok") == 1


def _responses_event(kind: str, doc: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **doc}).encode() + b"\n\n"


async def test_a_responses_stream_its_backend_ends_failed_counts_as_interrupted() -> None:
    """A native response.failed after the first output is the backend failing mid-answer, as
    an in-band error is on chat: counted against it, not as an answer that ended well."""
    started = {**COMPLETED_RESPONSE, "status": "in_progress", "output": [], "usage": None}
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress",
            "content": []}  # fmt: skip
    failed = {**COMPLETED_RESPONSE, "status": "failed", "output": [],
              "error": {"code": "server_error", "message": "engine died"}}  # fmt: skip
    body = (
        _responses_event("response.created", {"sequence_number": 0, "response": started})
        + _responses_event(
            "response.output_item.added", {"sequence_number": 1, "output_index": 0, "item": item}
        )
        + _responses_event(
            "response.output_text.delta",
            {
                "sequence_number": 2,
                "output_index": 0,
                "content_index": 0,
                "item_id": "msg_1",
                "delta": "Hel",
            },
        )
        + _responses_event("response.failed", {"sequence_number": 3, "response": failed})
    )
    upstreams = Upstreams(
        {
            "pod-a.test": lambda request: httpx.Response(
                200, content=body, headers={"content-type": "text/event-stream"}
            )
        }
    )
    registry = CollectorRegistry()
    config = settings(providers=[], tuning={"consecutive_failures": 1})
    async with running_router(config, upstreams, registry) as client:
        answer = await client.post(
            "/v1/responses", json={"model": MODEL, "input": "hi", "stream": True}
        )
    assert answer.status_code == 200 and "response.failed" in answer.text
    labels = {"route": "responses", "model": MODEL, "backend": "local"}
    sample = registry.get_sample_value
    assert sample("gptoss_router_requests_total", {**labels, "outcome": "interrupted"}) == 1
    assert sample("gptoss_router_requests_total", {**labels, "outcome": "ok"}) is None
    assert sample("gptoss_router_ejections_total", {"backend": "local"}) == 1
