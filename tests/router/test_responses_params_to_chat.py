"""A Responses API request's tools and parameters, translated into the Chat Completions request
that serves it, and what reaches each backend."""

from __future__ import annotations

import json
from typing import Any

import pytest
from responses_translation import MODEL, TIME, WEATHER, refusal, translate, user

from gptoss_router.config.providers import ProviderKind
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.responses_to_chat import chat_request
from gptoss_vllmspec import load_protocol


def test_function_tools_are_nested_the_way_chat_declares_them() -> None:
    body = translate(tools=[WEATHER, TIME])
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city.",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    ]


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "mcp", "server_label": "x", "server_url": "https://x.test"},
        {"type": "custom", "name": "grammar"},
    ],
)
def test_tools_chat_cannot_call_are_refused_naming_their_type(tool: dict[str, Any]) -> None:
    error = refusal(tools=[WEATHER, tool])
    assert f"'{tool['type']}'" in error.message
    assert error.param == "tools[1].type"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_time"},
            {"type": "function", "function": {"name": "get_time"}},
        ),
    ],
)
def test_tool_choice_takes_chats_shape(choice: Any, expected: Any) -> None:
    assert translate(tools=[WEATHER, TIME], tool_choice=choice)["tool_choice"] == expected


def test_allowed_tools_narrow_the_tools_the_model_sees() -> None:
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "get_time"}],
    }
    body = translate(tools=[WEATHER, TIME], tool_choice=choice)
    assert body["tool_choice"] == "required"
    assert [tool["function"]["name"] for tool in body["tools"]] == ["get_time"]


@pytest.mark.parametrize("choice", [{"type": "web_search_preview"}, {"type": "file_search"}])
def test_a_hosted_tool_choice_is_refused(choice: dict[str, Any]) -> None:
    error = refusal(tools=[WEATHER], tool_choice=choice)
    assert error.param == "tool_choice"
    assert f"'{choice['type']}'" in error.message


def test_a_tool_choice_of_auto_without_tools_is_left_out() -> None:
    body = translate(tool_choice="auto")
    assert "tool_choice" not in body
    assert "tools" not in body


def test_max_output_tokens_becomes_max_tokens_or_the_field_the_backend_reads() -> None:
    request = {"model": MODEL, "input": "hi", "max_output_tokens": 256}
    assert chat_request(request)["max_tokens"] == 256
    newer = chat_request(request, max_tokens_field="max_completion_tokens")
    assert newer["max_completion_tokens"] == 256
    assert "max_tokens" not in newer


def test_sampling_parameters_and_the_user_are_carried_over() -> None:
    body = translate(temperature=0.2, top_p=0.9, parallel_tool_calls=False, user="u-1")
    assert {k: body[k] for k in ("temperature", "top_p", "parallel_tool_calls", "user")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "parallel_tool_calls": False,
        "user": "u-1",
    }


def test_sampling_extras_vllm_also_takes_on_responses_are_carried_over() -> None:
    body = translate(seed=7, stop=["END"], top_k=40, min_p=0.05, repetition_penalty=1.1)
    assert {k: body[k] for k in ("seed", "stop", "top_k", "min_p", "repetition_penalty")} == {
        "seed": 7,
        "stop": ["END"],
        "top_k": 40,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
    }


def test_parameters_without_a_chat_meaning_are_not_sent() -> None:
    body = translate(
        metadata={"k": "v"},
        store=False,
        include=["reasoning.encrypted_content"],
        truncation="auto",
        service_tier="auto",
        safety_identifier="s",
        prompt_cache_key="p",
        max_tool_calls=3,
        text={"format": {"type": "text"}, "verbosity": "low"},
        reasoning={"effort": "high", "summary": "auto"},
    )
    assert set(body) == {"model", "messages", "reasoning_effort"}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True},
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
        ),
    ],
)
def test_text_format_becomes_response_format(fmt: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate(text={"format": fmt})["response_format"] == expected


def test_an_unknown_text_format_is_refused() -> None:
    error = refusal(text={"format": {"type": "grammar", "grammar": "x"}})
    assert error.param == "text.format"


def test_reasoning_effort_moves_to_the_top_level() -> None:
    assert translate(reasoning={"effort": "low"})["reasoning_effort"] == "low"


def test_a_streamed_request_always_asks_for_usage() -> None:
    body = translate(stream=True)
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})
    assert "stream" not in translate()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("previous_response_id", "resp_1"),
        ("conversation", "conv_1"),
        ("prompt", {"id": "pmpt_1"}),
        ("background", True),
        ("top_logprobs", 5),
    ],
)
def test_parameters_that_need_what_chat_lacks_are_refused(name: str, value: Any) -> None:
    assert refusal(**{name: value}).param == name


def test_everything_sent_is_a_field_vllms_chat_endpoint_knows() -> None:
    body = translate(
        instructions="x",
        input=[
            user("q"),
            {
                "type": "reasoning",
                "id": "r",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "t"}],
            },
            {"type": "function_call", "call_id": "c", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "noon"},
        ],
        tools=[WEATHER, TIME],
        tool_choice="auto",
        temperature=1.0,
        max_output_tokens=100,
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "medium"},
        stream=True,
    )
    protocol = load_protocol()
    assert set(body) <= protocol["ChatCompletionRequest"].fields
    assistant = body["messages"][2]
    assert set(assistant) <= protocol["ChatMessage"].fields


def test_the_translated_request_is_renamed_and_cleaned_per_backend_by_outbound() -> None:
    thought = {
        "type": "reasoning",
        "id": "r",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "t"}],
    }
    body = translate(
        input=[user("q"), thought, {"role": "assistant", "content": "A"}, user("again")],
        reasoning={"effort": "xhigh"},
    )
    raw = json.dumps(body).encode()
    inbound = read_inbound("chat", raw)
    sent = {
        kind: json.loads(outbound_body(inbound, raw, model_id=MODEL, dialect=dialect_for(kind)))
        for kind in (ProviderKind.VLLM, ProviderKind.FIREWORKS, ProviderKind.GROQ)
    }
    assert sent[ProviderKind.VLLM]["messages"][1] == {
        "role": "assistant",
        "reasoning": "t",
        "content": "A",
    }
    assert sent[ProviderKind.FIREWORKS]["messages"][1] == {
        "role": "assistant",
        "content": "A",
        "reasoning_content": "t",
    }
    assert sent[ProviderKind.GROQ]["messages"][1] == {"role": "assistant", "content": "A"}
    assert sent[ProviderKind.VLLM]["reasoning_effort"] == "high"
