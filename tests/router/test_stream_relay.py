"""Relaying streams: only an event whose data is exactly ``[DONE]`` ends one, and events whose
lines end in CRLF stay apart however the upstream's bytes arrive."""

from __future__ import annotations

import json
from typing import Any

import httpx
from aiohttp import web
from paced_upstreams import Paced, events, paced_client
from prometheus_client import CollectorRegistry
from router_fakes import APP_KEY, MODEL, Upstreams, provider, running_router, settings, sse

GROQ_MODEL = "openai/gpt-oss-120b"
STREAM = {"model": MODEL, "messages": [{"role": "user", "content": "how is SSE parsed?"}]}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": GROQ_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


# A model explaining SSE: its text holds "data: [DONE]", several tokens to a chunk.
EXPLAINING = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"reasoning": "SECRET the user wants SSE; a stream ends with data: [DONE] so"}),
    _chunk({"content": "Read lines until data: [DONE] arrives"}),
]


def _groq(*chunks: dict[str, Any] | str) -> Upstreams:
    body = sse(*chunks)
    answer = httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    return Upstreams({"groq.test": lambda request: answer})


def _stripping() -> Any:
    return settings(
        pods=[],
        providers=[provider("groq", "groq", price_out=0.6, key="gsk-x", model_id=GROQ_MODEL)],
        apps=[{"name": "app", "key": APP_KEY, "strip_reasoning": True}],
    )


def _data(text: str) -> list[Any]:
    return [
        line[6:] if line[6:] == "[DONE]" else json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


async def test_done_inside_generated_text_is_relayed_as_text_and_rewritten_like_any_chunk() -> None:
    usage = {
        "id": "chatcmpl-1",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9},
    }
    upstreams = _groq(*EXPLAINING, _chunk({}, "stop"), usage, "[DONE]")
    headers = {"authorization": f"Bearer {APP_KEY}"}
    async with running_router(_stripping(), upstreams) as client:
        response = await client.post(
            "/v1/chat/completions", json={**STREAM, "stream": True}, headers=headers
        )
    assert response.status_code == 200
    assert "SECRET" not in response.text  # the app may not see reasoning, [DONE] or not
    chunks = _data(response.text)
    assert chunks[-1] == "[DONE]"
    assert {c["model"] for c in chunks[:-1]} == {MODEL}  # every chunk under the client's name
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert "Read lines until data: [DONE] arrives" in texts


async def test_a_stream_cut_after_text_that_mentions_done_ends_with_an_error_event() -> None:
    upstreams = _groq(*EXPLAINING)  # then the body ends: no finish, no usage, no [DONE]
    registry = CollectorRegistry()
    headers = {"authorization": f"Bearer {APP_KEY}"}
    async with running_router(_stripping(), upstreams, registry) as client:
        response = await client.post(
            "/v1/chat/completions", json={**STREAM, "stream": True}, headers=headers
        )
    last = _data(response.text)[-1]
    assert last["error"]["message"] == "The upstream ended the stream early."
    assert "data: [DONE]" not in response.text.replace("until data: [DONE] arrives", "")
    interrupted = {"route": "chat", "model": MODEL, "backend": "groq", "outcome": "interrupted"}
    assert registry.get_sample_value("gptoss_router_requests_total", interrupted) == 1


# --- CRLF line endings, the blank line split between two reads ----------------------------------


def _crlf(doc: dict[str, Any] | str) -> bytes:
    return b"data: " + (doc if isinstance(doc, str) else json.dumps(doc)).encode() + b"\r\n\r\n"


CRLF_EVENTS = [
    _crlf(_chunk({"role": "assistant", "content": ""})),
    _crlf(_chunk({"content": "hello"}, "stop")),
    _crlf({**_chunk({}), "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 1}}),
    _crlf("[DONE]"),
]


async def _split_in_a_blank_line(
    request: web.BaseRequest, body: dict[str, Any]
) -> web.StreamResponse:
    """The whole stream, its bytes sent in two writes apart in time: the first ends between
    the CR and the LF that close the second event's blank line (sse-starlette writes CRLF)."""
    raw = b"".join(CRLF_EVENTS)
    cut = len(CRLF_EVENTS[0]) + len(CRLF_EVENTS[1]) - 1
    return await events(request, [raw[:cut], 0.05, raw[cut:]])


async def test_crlf_events_split_inside_their_blank_line_are_relayed_and_gathered_apart() -> None:
    upstreams = Paced({"groq.test": _split_in_a_blank_line})
    config = settings(pods=[], tuning={"response_timeout_s": 5.0})
    async with paced_client(config, upstreams) as (router, client):
        whole = await client.post("/v1/chat/completions", json=STREAM)
        streamed = await client.post("/v1/chat/completions", json={**STREAM, "stream": True})
    # The whole answer, assembled from the stream, came from the one upstream asked.
    assert whole.status_code == 200 and whole.headers["x-gptoss-backend"] == "groq"
    assert whole.json()["choices"][0]["message"]["content"] == "hello"
    assert whole.json()["usage"]["completion_tokens"] == 1
    assert upstreams.hosts() == ["groq.test", "groq.test"]
    # The stream: each chunk rewritten for the client, the usage chunk it did not ask for gone.
    chunks = _data(streamed.text)
    assert chunks[-1] == "[DONE]" and len(chunks) == 3
    assert {c["model"] for c in chunks[:-1]} == {MODEL}
    ok = {"backend": "groq", "direction": "output", "outcome": "ok"}
    assert router.registry.get_sample_value("gptoss_router_tokens_total", ok) == 2
