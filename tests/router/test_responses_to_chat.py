"""A Responses API request, translated into the Chat Completions request that serves it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from responses_checks import valid_chat_request, valid_responses_request

from gptoss_router.config.providers import ProviderKind
from gptoss_router.errors import BadRequest
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.responses_to_chat import chat_request
from gptoss_vllmspec import load_protocol

MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}, "strict": None}


def translate(**request: Any) -> dict[str, Any]:
    """The chat body for a Responses request, both checked against the SDK's request types."""
    request.setdefault("model", MODEL)
    request.setdefault("input", "hi")
    return valid_chat_request(chat_request(valid_responses_request(request)))


def refusal(**request: Any) -> BadRequest:
    request.setdefault("model", MODEL)
    request.setdefault("input", "hi")
    with pytest.raises(BadRequest) as caught:
        chat_request(request)
    return caught.value


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_a_string_input_becomes_one_user_message() -> None:
    assert translate(input="What is 2+2?")["messages"] == [
        {"role": "user", "content": "What is 2+2?"}
    ]


def test_instructions_become_a_leading_system_message() -> None:
    body = translate(instructions="Answer in French.", input="hi")
    assert body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hi"},
    ]


def test_message_items_keep_their_roles_and_their_text_parts_are_joined() -> None:
    body = translate(
        input=[
            {"role": "developer", "content": "Be brief."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "first"},
                    {"type": "input_text", "text": "second"},
                ],
            },
        ]
    )
    assert body["messages"] == [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "first\nsecond"},
    ]


def test_an_image_in_a_user_message_becomes_an_image_url_part() -> None:
    image = {"type": "input_image", "image_url": "https://x.test/cat.png", "detail": "low"}
    body = translate(
        input=[{"role": "user", "content": [{"type": "input_text", "text": "what?"}, image]}]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}},
    ]


def test_an_image_outside_a_user_message_is_refused() -> None:
    image = {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"}
    error = refusal(input=[{"type": "message", "role": "system", "content": [image]}])
    assert error.param == "input[0].content[0]"
    assert "user messages" in error.message


def test_an_image_given_by_file_id_is_refused() -> None:
    image = {"type": "input_image", "file_id": "file-1", "detail": "auto"}
    error = refusal(input=[{"role": "user", "content": [image]}])
    assert "file_id" in error.message


def test_a_file_part_is_refused_naming_its_type() -> None:
    part = {"type": "input_file", "file_id": "file-1"}
    error = refusal(input=[{"role": "user", "content": [part]}])
    assert "'input_file'" in error.message
    assert error.param == "input[0].content[0]"


def test_a_tool_turn_becomes_one_assistant_message_with_reasoning_and_tool_calls() -> None:
    history = [
        user("Weather in Paris and the time?"),
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Need two tools."}],
        },
        {
            "type": "function_call",
            "call_id": "call_a",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call", "call_id": "call_b", "name": "get_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_b", "output": "noon"},
        {
            "type": "reasoning",
            "id": "rs_2",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Summarise."}],
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Sunny at noon.", "annotations": []}],
        },
        user("Thanks!"),
    ]
    body = translate(input=history, tools=[WEATHER, TIME])
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and the time?"},
        {
            "role": "assistant",
            "reasoning": "Need two tools.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
            "content": "",
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
        {"role": "assistant", "reasoning": "Summarise.", "content": "Sunny at noon."},
        {"role": "user", "content": "Thanks!"},
    ]


def test_a_preamble_before_tool_calls_stays_in_the_same_assistant_turn() -> None:
    body = translate(
        input=[
            user("go"),
            {"role": "assistant", "content": "Checking."},
            {"type": "function_call", "call_id": "c1", "name": "get_time", "arguments": "{}"},
        ]
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ],
    }


def test_reasoning_after_an_assistant_answer_starts_the_next_turn() -> None:
    answer = {"role": "assistant", "content": "4"}
    thought = {
        "type": "reasoning",
        "id": "rs",
        "summary": [{"type": "summary_text", "text": "again"}],
    }
    body = translate(input=[user("2+2?"), answer, thought, {"role": "assistant", "content": "4!"}])
    assert body["messages"][1:] == [
        {"role": "assistant", "content": "4"},
        {"role": "assistant", "reasoning": "again", "content": "4!"},
    ]


def test_a_reasoning_summary_is_carried_when_there_is_no_raw_reasoning() -> None:
    thought = {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "S"}]}
    body = translate(input=[user("q"), thought, {"role": "assistant", "content": "A"}])
    assert body["messages"][1] == {"role": "assistant", "reasoning": "S", "content": "A"}


def test_encrypted_reasoning_alone_carries_nothing() -> None:
    thought = {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "gAAAA"}
    body = translate(input=[user("q"), thought, {"role": "assistant", "content": "A"}])
    assert body["messages"][1] == {"role": "assistant", "content": "A"}


def test_a_tool_output_given_as_text_parts_becomes_the_tool_message_text() -> None:
    output = [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]
    body = translate(
        input=[
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": output},
        ]
    )
    assert body["messages"][1] == {"role": "tool", "tool_call_id": "c", "content": "a\nb"}


@pytest.mark.parametrize("kind", ["item_reference", "web_search_call", "computer_call_output"])
def test_input_items_chat_cannot_express_are_refused_naming_their_type(kind: str) -> None:
    error = refusal(input=[user("x"), {"type": kind, "id": "x_1"}])
    assert f"'{kind}'" in error.message
    assert error.param == "input[1].type"


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
