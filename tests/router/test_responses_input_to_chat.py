"""A Responses API request's input items, translated into the messages of the Chat Completions
request that serves it."""

from __future__ import annotations

import pytest
from responses_translation import TIME, WEATHER, refusal, translate, user


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
