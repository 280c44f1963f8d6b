"""A streamed Chat Completions reply, translated into the Responses API's stream of events."""

from __future__ import annotations

import json
from typing import Any

from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from responses_checks import (
    USAGE,
    chunk,
    parse_sse,
    pieces,
    sdk_client,
    tool_delta,
    valid_event,
    valid_response,
)

from gptoss_router.openai.chat_stream_to_responses import ChatStreamTranslator
from gptoss_router.openai.chat_to_responses import response_from_chat
from gptoss_router.openai.responses_events import encode_events
from gptoss_router.openai.responses_objects import response_echo

REQUEST: dict[str, Any] = {"model": "gpt-oss-120b", "input": "Weather?", "stream": True}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
REASONING = "The user wants weather."
ANSWER = "It is sunny in Paris."


def answer_chunks() -> list[dict[str, Any]]:
    """gpt-oss on vLLM answering in text: role, reasoning, content, finish, usage."""
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"reasoning": piece}) for piece in pieces(REASONING)),
        *(chunk({"content": piece}) for piece in pieces(ANSWER)),
        chunk({}, finish_reason="stop"),
        chunk(usage=USAGE),
    ]


def tool_chunks() -> list[dict[str, Any]]:
    """Two parallel tool calls whose argument pieces interleave by index."""
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning": "Two cities."}),
        chunk(tool_delta(0, id_="call_a", name="get_weather")),
        chunk(tool_delta(1, id_="call_b", name="get_weather")),
        chunk(tool_delta(0, args='{"city":')),
        chunk(tool_delta(1, args='{"city":"Rome"}')),
        chunk(tool_delta(0, args='"Paris"}')),
        chunk({}, finish_reason="tool_calls"),
        chunk(usage=USAGE),
    ]


def run(chunks: list[dict[str, Any]], request: dict[str, Any] = REQUEST) -> list[dict[str, Any]]:
    """Every event for ``chunks`` then ``[DONE]``, each validated by the SDK's event types."""
    translator = ChatStreamTranslator(response_echo(request))
    events = [event for doc in chunks for event in translator.feed(doc)]
    events += translator.finish()
    for event in events:
        valid_event(event)
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def test_a_reasoned_answer_streams_openais_event_sequence() -> None:
    events = run(answer_chunks())
    reasoning_deltas = len(list(pieces(REASONING)))
    text_deltas = len(list(pieces(ANSWER)))
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.reasoning_text.delta"] * reasoning_deltas,
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * text_deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_sequence_numbers_count_every_event_from_zero() -> None:
    events = run(answer_chunks())
    assert [event["sequence_number"] for event in events] == list(range(len(events)))


def test_done_events_carry_the_whole_text_of_their_item() -> None:
    events = run(answer_chunks())
    done = {event["type"]: event for event in events if event["type"].endswith(".done")}
    assert done["response.reasoning_text.done"]["text"] == REASONING
    assert done["response.output_text.done"]["text"] == ANSWER
    assert done["response.output_text.done"]["item_id"] == "msg_abc123_1"


def test_the_completed_response_holds_the_output_and_the_usage() -> None:
    response = run(answer_chunks())[-1]["response"]
    valid_response(response)
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["reasoning", "message"]
    assert response["output"][1]["content"][0]["text"] == ANSWER
    assert response["usage"]["output_tokens_details"] == {"reasoning_tokens": 9}


def test_the_first_events_announce_an_in_progress_response_without_output() -> None:
    created, in_progress = run(answer_chunks())[:2]
    assert created["response"]["status"] == in_progress["response"]["status"] == "in_progress"
    assert created["response"]["output"] == []
    assert created["response"]["id"] == "resp_abc123"
    assert created["response"]["created_at"] == 1_760_000_000


def test_parallel_tool_calls_stream_as_function_call_items_by_index() -> None:
    events = run(tool_chunks(), {**REQUEST, "tools": [WEATHER]})
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [(item["type"], item.get("call_id")) for item in added] == [
        ("reasoning", None),
        ("function_call", "call_a"),
        ("function_call", "call_b"),
    ]
    arguments = {
        e["item_id"]: e["arguments"]
        for e in events
        if e["type"] == "response.function_call_arguments.done"
    }
    assert arguments == {"fc_abc123_1": '{"city":"Paris"}', "fc_abc123_2": '{"city":"Rome"}'}
    final = events[-1]["response"]
    assert [item.get("arguments") for item in final["output"]] == [
        None,
        '{"city":"Paris"}',
        '{"city":"Rome"}',
    ]


def test_argument_deltas_name_the_item_of_their_own_call() -> None:
    events = run(tool_chunks(), {**REQUEST, "tools": [WEATHER]})
    deltas = [
        (e["item_id"], e["delta"])
        for e in events
        if e["type"] == "response.function_call_arguments.delta"
    ]
    assert deltas == [
        ("fc_abc123_1", '{"city":'),
        ("fc_abc123_2", '{"city":"Rome"}'),
        ("fc_abc123_1", '"Paris"}'),
    ]


def test_a_tool_call_whose_name_comes_late_is_announced_once_it_has_one() -> None:
    events = run(
        [
            chunk(
                {"tool_calls": [{"index": 0, "id": "call_x", "function": {"arguments": '{"a"'}}]}
            ),
            chunk(tool_delta(0, name="get_weather", args=":1}")),
            chunk({}, finish_reason="tool_calls"),
        ]
    )
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert (added["item"]["name"], added["item"]["call_id"]) == ("get_weather", "call_x")
    kinds = types(events)
    first_delta = kinds.index("response.function_call_arguments.delta")
    assert kinds.index("response.output_item.added") < first_delta
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"a":1}'


def test_a_preamble_then_a_tool_call_closes_the_message_before_the_call() -> None:
    events = run(
        [
            chunk({"content": "Checking."}),
            chunk(tool_delta(0, id_="call_a", name="get_weather", args="{}")),
            chunk({}, finish_reason="tool_calls"),
        ]
    )
    items = [
        (e["type"], e["item"]["type"])
        for e in events
        if e["type"] in ("response.output_item.added", "response.output_item.done")
    ]
    assert items == [
        ("response.output_item.added", "message"),
        ("response.output_item.done", "message"),
        ("response.output_item.added", "function_call"),
        ("response.output_item.done", "function_call"),
    ]


def test_a_stream_cut_by_the_token_limit_ends_incomplete() -> None:
    events = run([chunk({"content": "Sun"}), chunk({}, finish_reason="length"), chunk(usage=USAGE)])
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"


def test_items_close_when_the_choice_finishes_before_the_usage_arrives() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST))
    translator.feed(chunk({"content": "Hi"}))
    closing = translator.feed(chunk({}, finish_reason="stop"))
    assert types(closing)[-1] == "response.output_item.done"
    assert translator.feed(chunk(usage=USAGE)) == []
    assert translator.usage is not None and translator.usage["total_tokens"] == 59


def test_a_text_delta_costs_one_small_event() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST))
    translator.feed(chunk({"content": "a"}))
    assert translator.feed(chunk({"content": "bc"})) == [
        {
            "type": "response.output_text.delta",
            "sequence_number": 5,
            "item_id": "msg_abc123_0",
            "output_index": 0,
            "content_index": 0,
            "delta": "bc",
            "logprobs": [],
        }
    ]


def test_an_upstream_failure_closes_open_items_and_fails_the_response() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST))
    translator.feed(chunk({"content": "Sun"}))
    events = translator.fail("The upstream connection broke.")
    for event in events:
        valid_event(event)
    assert types(events) == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    error, failed = events[-2], events[-1]
    assert (error["code"], error["message"]) == ("upstream_error", "The upstream connection broke.")
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {
        "code": "server_error",
        "message": "The upstream connection broke.",
    }
    assert failed["response"]["output"][0]["status"] == "incomplete"
    assert translator.finished
    assert translator.feed(chunk({"content": "more"})) == []
    assert translator.finish() == []


def test_an_in_band_error_object_fails_the_stream() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST))
    events = translator.feed({"error": {"message": "Provider overloaded", "code": 503}})
    assert types(events) == ["response.created", "response.in_progress", "error", "response.failed"]
    assert events[-1]["response"]["error"]["message"] == "Provider overloaded"


def test_a_stream_that_ends_without_a_finish_reason_completes_what_it_has() -> None:
    events = run([chunk({"content": "Hi"})])
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hi"


def test_a_stream_with_no_chunks_still_opens_and_completes_a_response() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST), response_id="resp_x", created_at=7)
    events = translator.finish()
    assert types(events) == ["response.created", "response.in_progress", "response.completed"]
    assert events[-1]["response"]["id"] == "resp_x"
    assert events[-1]["response"]["created_at"] == 7


def test_the_streamed_response_equals_the_whole_reply_translation() -> None:
    streamed = run(tool_chunks(), {**REQUEST, "tools": [WEATHER]})[-1]["response"]
    whole = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "gpt-oss-120b",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning": "Two cities.",
                    "tool_calls": [
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
                    ],
                },
            }
        ],
        "usage": USAGE,
    }
    assert streamed == response_from_chat(whole, response_echo({**REQUEST, "tools": [WEATHER]}))


def test_encoded_events_are_server_sent_events_named_by_their_type() -> None:
    translator = ChatStreamTranslator(response_echo(REQUEST))
    raw = b"".join(encode_events(translator.feed(doc)) for doc in answer_chunks())
    raw += encode_events(translator.finish())
    events = parse_sse(raw)
    assert events == run(answer_chunks())


def test_the_sdks_stream_accumulator_rebuilds_the_same_response() -> None:
    events = run(tool_chunks(), {**REQUEST, "tools": [WEATHER]})
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[WEATHER], text_format=omit)
    handled = [out for event in events for out in state.handle_event(valid_event(event))]
    final = handled[-1].response
    assert [item.type for item in final.output] == ["reasoning", "function_call", "function_call"]
    assert final.output[1].arguments == '{"city":"Paris"}'


def test_the_openai_sdk_streams_the_translated_events_to_a_final_response() -> None:
    translator = ChatStreamTranslator(response_echo({**REQUEST, "tools": [WEATHER]}))
    chunks = answer_chunks()[:-2] + tool_chunks()[2:]
    raw = b"".join(encode_events(translator.feed(doc)) for doc in chunks)
    raw += encode_events(translator.finish())
    client = sdk_client(raw, "text/event-stream")
    with client.responses.stream(model="gpt-oss-120b", input="Weather?", tools=[WEATHER]) as stream:
        snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert snapshots[-1] == ANSWER
    assert final.output_text == ANSWER
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("call_a", {"city": "Paris"}),
        ("call_b", {"city": "Rome"}),
    ]
    assert final.usage is not None and final.usage.input_tokens == 42
