"""A whole answer gathered from a stream survives chunks shaped as nobody expected: logprobs
that say ``null`` before they list tokens assemble into the list, and a chunk the assembler
cannot make sense of breaks the stream like a backend that broke half way, so the next
candidate answers. Either way the request is counted once, with one outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, chat_reply, running_router, settings, sse

from gptoss_router.openai.stream_assembly import Assembler
from gptoss_router.proxy import handler

pytestmark = pytest.mark.timeout(60)

WHOLE = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "logprobs": True}
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
TOKEN = {"token": "Hi", "logprob": -0.1, "bytes": None, "top_logprobs": []}
USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def _chunk(delta: dict[str, Any], logprobs: Any, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
    return {**HEAD, "choices": [choice]}


# A stream as vLLM sends one with logprobs: its opening chunk has no token, and says null.
OPENING = _chunk({"role": "assistant", "content": ""}, {"content": None, "refusal": None})
TEXT = _chunk({"content": "Hi"}, {"content": [TOKEN], "refusal": None}, "stop")


def _stream(*events: dict[str, Any] | str) -> httpx.Response:
    return httpx.Response(200, content=sse(*events), headers={"content-type": "text/event-stream"})


def _requests(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """Every request counted, by backend and outcome."""
    return {
        (sample.labels["backend"], sample.labels["outcome"]): sample.value
        for metric in registry.collect()
        if metric.name == "gptoss_router_requests"
        for sample in metric.samples
        if sample.name == "gptoss_router_requests_total"
    }


def test_logprobs_that_open_null_and_then_list_tokens_assemble_into_the_list() -> None:
    assembler = Assembler("chat")
    for data in (OPENING, TEXT, {**HEAD, "choices": [], "usage": USAGE}):
        assembler.feed(data)
    assembler.finish()
    choice = assembler.document()["choices"][0]
    assert choice["logprobs"] == {"content": [TOKEN], "refusal": None}
    assert choice["message"]["content"] == "Hi"


async def test_a_gathered_answer_whose_logprobs_open_null_comes_back_whole() -> None:
    upstreams = Upstreams(
        {"pod-a.test": lambda request: _stream(OPENING, TEXT, "[DONE]")},
    )
    registry = CollectorRegistry()
    async with running_router(settings(providers=[]), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", json=WHOLE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["logprobs"]["content"] == [TOKEN]
    assert _requests(registry) == {("local", "ok"): 1}


async def test_a_chunk_the_assembler_cannot_read_fails_over_and_counts_the_request_once() -> None:
    odd = {**HEAD, "choices": 5}  # not a list of choices
    upstreams = Upstreams(
        {
            "pod-a.test": lambda request: _stream(OPENING, odd, "[DONE]"),
            "groq.test": lambda request: chat_reply("openai/gpt-oss-120b"),
        }
    )
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        # Groq serves no logprobs: the failover asks for none.
        plain = {k: v for k, v in WHOLE.items() if k != "logprobs"}
        answer = await client.post("/v1/chat/completions", json=plain)
    assert answer.status_code == 200 and answer.headers["x-gptoss-backend"] == "groq"
    assert upstreams.hosts() == ["pod-a.test", "groq.test"]
    assert _requests(registry) == {("groq", "ok"): 1}
    retried = {"backend": "local", "reason": "reset"}
    assert registry.get_sample_value("gptoss_router_retries_total", retried) == 1


async def test_a_router_bug_while_answering_counts_the_request_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(handler, "respond", broken)
    upstreams = Upstreams({"pod-a.test": lambda request: chat_reply(MODEL)})
    registry = CollectorRegistry()
    async with running_router(settings(providers=[]), upstreams, registry) as client:
        answer = await client.post("/v1/chat/completions", json=WHOLE)
    assert answer.status_code == 500
    assert answer.json()["error"]["message"] == "The router failed."
    assert _requests(registry) == {("local", "upstream_error"): 1}
