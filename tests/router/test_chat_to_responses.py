"""A whole Chat Completions reply, translated into the Responses ``response`` object."""

from __future__ import annotations

import json
from typing import Any

from responses_checks import USAGE, sdk_client, valid_completion, valid_response

from gptoss_router.openai.chat_to_responses import response_from_chat
from gptoss_router.openai.responses_objects import response_echo

REQUEST: dict[str, Any] = {"model": "gpt-oss-120b", "input": "Weather in Paris?"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}


def completion(
    message: dict[str, Any], finish_reason: str = "stop", **extra: Any
) -> dict[str, Any]:
    """A vLLM-shaped ``chat.completion`` for gpt-oss, checked by the SDK's type."""
    doc = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-oss-120b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": USAGE,
        **extra,
    }
    return valid_completion(doc)


def translate(doc: dict[str, Any], request: dict[str, Any] = REQUEST, **kw: Any) -> dict[str, Any]:
    response = response_from_chat(doc, response_echo(request), **kw)
    valid_response(response)
    return response


def test_a_text_answer_with_reasoning_becomes_a_reasoning_item_and_a_message() -> None:
    doc = completion({"content": "Sunny.", "reasoning": "Look it up.", "tool_calls": []})
    response = translate(doc)
    assert response["output"] == [
        {
            "id": "rs_abc123_0",
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Look it up."}],
            "status": "completed",
        },
        {
            "id": "msg_abc123_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": "Sunny.", "annotations": [], "logprobs": []}
            ],
        },
    ]
    assert (response["object"], response["status"], response["id"]) == (
        "response",
        "completed",
        "resp_abc123",
    )
    assert (response["created_at"], response["model"]) == (1_760_000_000, "gpt-oss-120b")


def test_usage_is_renamed_with_cached_and_reasoning_tokens() -> None:
    assert translate(completion({"content": "x"}))["usage"] == {
        "input_tokens": 42,
        "input_tokens_details": {"cached_tokens": 32, "cache_write_tokens": 0},
        "output_tokens": 17,
        "output_tokens_details": {"reasoning_tokens": 9},
        "total_tokens": 59,
    }


def test_a_reply_without_usage_has_null_usage() -> None:
    doc = completion({"content": "x"})
    del doc["usage"]
    assert translate(doc)["usage"] is None


def test_fireworks_reasoning_content_is_read_as_reasoning() -> None:
    response = translate(completion({"content": "x", "reasoning_content": "think"}))
    assert response["output"][0]["content"] == [{"type": "reasoning_text", "text": "think"}]


def test_parallel_tool_calls_become_function_call_items_with_their_call_ids() -> None:
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
        },
    ]
    doc = completion(
        {"content": None, "reasoning": "Two cities.", "tool_calls": calls}, "tool_calls"
    )
    output = translate(doc, {**REQUEST, "tools": [WEATHER]})["output"]
    assert [item["type"] for item in output] == ["reasoning", "function_call", "function_call"]
    assert output[1:] == [
        {
            "id": "fc_abc123_1",
            "type": "function_call",
            "call_id": "call_a",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
            "status": "completed",
        },
        {
            "id": "fc_abc123_2",
            "type": "function_call",
            "call_id": "call_b",
            "name": "get_weather",
            "arguments": '{"city":"Rome"}',
            "status": "completed",
        },
    ]


def test_a_reply_cut_by_the_token_limit_is_incomplete_with_its_last_item() -> None:
    response = translate(completion({"content": "Sun", "reasoning": "r"}, "length"))
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert [item["status"] for item in response["output"]] == ["completed", "incomplete"]


def test_a_filtered_reply_is_incomplete_for_the_content_filter() -> None:
    response = translate(completion({"content": "x"}, "content_filter"))
    assert response["incomplete_details"] == {"reason": "content_filter"}


def test_a_refusal_becomes_a_refusal_part() -> None:
    response = translate(completion({"content": None, "refusal": "I can't help."}))
    assert response["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


def test_the_request_is_echoed_in_the_response() -> None:
    request = {
        **REQUEST,
        "instructions": "Be brief.",
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 300,
        "metadata": {"ticket": "42"},
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "high"},
        "user": "u-1",
    }
    response = translate(completion({"content": "{}"}), request)
    for name in (
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "max_output_tokens",
        "metadata",
        "text",
        "reasoning",
        "user",
    ):
        assert response[name] == request[name], name


def test_an_echo_of_a_bare_request_has_openais_defaults() -> None:
    response = translate(completion({"content": "x"}))
    assert {
        name: response[name]
        for name in (
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "metadata",
            "text",
            "truncation",
        )
    } == {
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "metadata": {},
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
    }


def test_the_model_is_the_one_the_client_asked_for() -> None:
    doc = completion({"content": "x"}, model="accounts/fireworks/models/gpt-oss-120b")
    assert translate(doc)["model"] == "gpt-oss-120b"


def test_an_explicit_response_id_names_the_response_and_its_items() -> None:
    response = translate(completion({"content": "x", "reasoning": "y"}), response_id="resp_fixed")
    assert response["id"] == "resp_fixed"
    assert [item["id"] for item in response["output"]] == ["rs_fixed_0", "msg_fixed_1"]


def test_a_reply_without_choices_is_an_empty_completed_response() -> None:
    doc = completion({"content": "x"})
    doc["choices"] = []
    response = translate(doc)
    assert (response["status"], response["output"]) == ("completed", [])


def test_the_openai_sdk_reads_the_translated_reply_as_a_response() -> None:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    ]
    doc = completion(
        {"content": "Let me check.", "reasoning": "r", "tool_calls": calls}, "tool_calls"
    )
    body = json.dumps(translate(doc, {**REQUEST, "tools": [WEATHER]})).encode()
    client = sdk_client(body, "application/json")
    response = client.responses.create(
        model="gpt-oss-120b", input="Weather in Paris?", tools=[WEATHER]
    )
    assert response.output_text == "Let me check."
    call = response.output[2]
    assert (call.type, call.call_id, call.arguments) == ("function_call", "call_a", "{}")
    assert response.usage is not None and response.usage.total_tokens == 59


def test_auto_truncation_is_echoed_as_disabled_since_nothing_is_cut() -> None:
    response = translate(completion({"content": "x"}), {**REQUEST, "truncation": "auto"})
    assert response["truncation"] == "disabled"
