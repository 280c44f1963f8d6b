"""Whole (non-streamed) answers are asked of backends as streams and assembled, so a backend
that hangs or breaks half way is left for the next one long before the response timeout, and
the client gets the same document it would have got from the backend directly."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from tests.router.live import fleet, router_in_thread, router_settings

from gptoss_router.openai.stream_assembly import Assembler, StreamBroken, can_gather

MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)


# -- the assembler (pure) -----------------------------------------------------------------------


def _chunk(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, **extra}],
    }


def test_chat_chunks_assemble_into_the_whole_message_with_tool_calls_and_usage() -> None:
    assembler = Assembler("chat")
    for chunk in (
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning": "The user wants "}),
        _chunk({"reasoning": "the weather."}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Lyon"}'}}]}),
        _chunk({}, finish_reason="tool_calls", logprobs={"content": [{"token": "x"}]}),
        {"id": "chatcmpl-9", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
    ):
        assembler.feed(chunk)
    assembler.finish()
    doc = assembler.document()
    assert doc["object"] == "chat.completion" and doc["id"] == "chatcmpl-9"
    assert doc["usage"] == {"prompt_tokens": 5, "completion_tokens": 9}
    (choice,) = doc["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["logprobs"] == {"content": [{"token": "x"}]}
    message = choice["message"]
    assert message["content"] is None and message["reasoning"] == "The user wants the weather."
    assert message["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
        }
    ]


def test_completion_chunks_assemble_text_and_logprobs_per_choice() -> None:
    assembler = Assembler("completions")
    for text, tokens in (("Hello", ["Hello"]), (" world", [" world"])):
        assembler.feed(
            {
                "id": "cmpl-1",
                "object": "text_completion",
                "choices": [
                    {
                        "index": 0,
                        "text": text,
                        "logprobs": {"tokens": tokens, "token_logprobs": [-1.0]},
                    }
                ],
            }
        )
    assembler.feed({"id": "cmpl-1", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    assembler.finish()
    (choice,) = assembler.document()["choices"]
    assert choice["text"] == "Hello world" and choice["finish_reason"] == "stop"
    assert choice["logprobs"]["tokens"] == ["Hello", " world"]


def test_a_responses_stream_assembles_into_its_terminal_events_response() -> None:
    assembler = Assembler("responses")
    assembler.feed({"type": "response.created", "response": {"id": "r", "status": "in_progress"}})
    assert not assembler.done
    assembler.feed({"type": "response.completed", "response": {"id": "r", "status": "completed"}})
    assert assembler.document() == {"id": "r", "status": "completed"}


@pytest.mark.parametrize("route", ["chat", "completions", "responses"])
def test_a_stream_that_ends_before_its_end_is_broken(route: str) -> None:
    assembler = Assembler(route)
    assembler.feed(_chunk({"content": "half"}) if route != "responses" else {"type": "x"})
    with pytest.raises(StreamBroken):
        assembler.document()


def test_an_error_event_breaks_the_stream_with_the_backends_message() -> None:
    with pytest.raises(StreamBroken, match="engine died"):
        Assembler("chat").feed({"error": {"message": "engine died", "code": 500}})


def test_answers_no_stream_can_reproduce_are_requested_whole() -> None:
    assert can_gather("chat", {"messages": [], "n": 1})
    assert not can_gather("chat", {"messages": [], "n": 2})
    assert not can_gather("chat", {"messages": [], "prompt_logprobs": 1})
    assert not can_gather("completions", {"prompt": "x", "echo": True})
    assert not can_gather("embeddings", {})


# -- through the router, against the strict simulators -----------------------------------------


def test_a_whole_answer_from_a_pod_that_hangs_fails_over_within_the_first_byte_timeout() -> None:
    settings = lambda found: router_settings(found, tuning={"first_byte_timeout_s": 0.5})  # noqa: E731
    with (
        fleet(local_faults=("hang,path=/v1/chat",)) as found,
        router_in_thread(settings(found)) as (url, registry),
    ):
        started = time.monotonic()
        raw = _client(url).chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}]
        )
        took = time.monotonic() - started
        retried = registry.get_sample_value(
            "gptoss_router_retries_total", {"backend": "local", "reason": "timeout"}
        )
    assert raw.headers["x-gptoss-backend"] != "local"
    assert raw.parse().choices[0].message.content
    assert took < 10, f"answered after {took:.1f} s: the hung pod was waited for"
    assert retried == 1  # the pod was tried first and given up at the first-byte timeout


def test_a_whole_answer_cut_half_way_is_retried_elsewhere_and_the_client_sees_no_error() -> None:
    with (
        fleet(local_faults=("disconnect_after=3,path=/v1/",)) as found,
        router_in_thread(router_settings(found)) as (url, registry),
    ):
        client = _client(url)
        for route in ("chat", "responses"):
            if route == "chat":
                raw: Any = client.chat.completions.with_raw_response.create(
                    model=MODEL, messages=[{"role": "user", "content": "A long story."}]
                )
                assert raw.parse().choices[0].message.content
            else:
                raw = client.responses.with_raw_response.create(
                    model=MODEL, input="A long story.", store=False
                )
                assert raw.parse().output_text
            assert raw.headers["x-gptoss-backend"] != "local"
        cut = registry.get_sample_value(
            "gptoss_router_retries_total", {"backend": "local", "reason": "reset"}
        )
    assert cut == 2  # each request reached the pod, which broke off half way


def test_an_assembled_answer_is_the_document_the_backend_answers_whole() -> None:
    request: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Weather in Lyon?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
        "seed": 3,
    }
    answers = []
    with fleet() as found:
        for gather in (True, False):
            settings = router_settings(found, tuning={"gather_streams": gather})
            with router_in_thread(settings) as (url, _):
                raw = _client(url).chat.completions.with_raw_response.create(
                    **request, extra_headers={"x-gptoss-route": "local"}
                )
                answers.append(json.loads(raw.http_response.content))
    gathered, whole = answers
    for doc in (gathered, whole):
        del doc["id"], doc["created"]
        for choice in doc["choices"]:
            for call in choice["message"].get("tool_calls") or ():
                del call["id"]
    assert gathered["choices"][0]["message"]["tool_calls"]
    # vLLM leaves unset usage members out of the stream's usage chunk (exclude_none).
    assert gathered["usage"] == {k: v for k, v in whole["usage"].items() if v is not None}
    assert gathered["choices"][0]["message"] == {
        k: v for k, v in whole["choices"][0]["message"].items() if v not in (None, [])
    } | {k: None for k in ("content", "refusal") if whole["choices"][0]["message"].get(k) is None}
    assert gathered["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert gathered["choices"][0]["logprobs"] == whole["choices"][0]["logprobs"]


def test_a_failed_response_event_is_a_failure_another_backend_may_answer() -> None:
    assembler = Assembler("responses")
    failed = {"id": "r", "status": "failed", "error": {"code": "server_error", "message": "boom"}}
    with pytest.raises(StreamBroken, match="boom"):
        assembler.feed({"type": "response.failed", "response": failed})
