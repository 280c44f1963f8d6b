"""Streamed Responses from a vLLM pod number content parts per output item, as the ``openai``
SDK's stream helper needs: vLLM 0.17 numbers them over the whole response."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest
from tests.router.live import fleet, router_in_thread, router_settings

from gptoss_router.openai.vllm_stream import StreamFix

MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _event(kind: str, **fields: object) -> bytes:
    return b"data: " + json.dumps({"type": kind, **fields}).encode() + b"\n\n"


def _index(event: bytes) -> object:
    return json.loads(event[len(b"data: ") :])["content_index"]


def _named(kind: str, **fields: object) -> bytes:
    """An event as vLLM writes it: its type on an ``event:`` line first."""
    return b"event: " + kind.encode() + b"\n" + _event(kind, **fields)


def _index_of(event: bytes) -> object:
    return _index(event[event.index(b"data: ") :])


@pytest.mark.parametrize("make", [_event, _named], ids=["data only", "with event lines"])
def test_a_message_after_reasoning_has_its_first_part_at_index_0(
    make: Callable[..., bytes],
) -> None:
    fix = StreamFix()
    fix.fix(make("response.output_item.added", output_index=0))
    assert _index_of(fix.fix(make("response.reasoning_text.delta", content_index=0))) == 0
    fix.fix(make("response.output_item.added", output_index=1))
    assert _index_of(fix.fix(make("response.content_part.added", content_index=1))) == 0
    assert _index_of(fix.fix(make("response.output_text.delta", content_index=1))) == 0
    assert _index_of(fix.fix(make("response.output_text.done", content_index=1))) == 0
    assert _index_of(fix.fix(make("response.content_part.added", content_index=2))) == 1
    assert _index_of(fix.fix(make("response.output_text.delta", content_index=2))) == 1
    fix.fix(make("response.output_item.added", output_index=2))
    assert _index_of(fix.fix(make("response.output_text.delta", content_index=2))) == 0
    assert _index_of(fix.fix(make("response.output_text.delta", content_index=2))) == 0
    assert _index_of(fix.fix(make("response.output_text.delta", content_index=12))) == 10


def test_a_stream_numbered_per_item_passes_unchanged() -> None:
    fix = StreamFix()
    for output_index in (0, 1):
        added = _event("response.output_item.added", output_index=output_index)
        assert fix.fix(added) is added
        delta = _event("response.output_text.delta", content_index=0)
        assert fix.fix(delta) is delta


def test_an_index_inside_the_text_is_left_alone() -> None:
    fix = StreamFix()
    fix.fix(_event("response.output_item.added", output_index=1))
    event = _event("response.output_text.delta", content_index=2, delta='"content_index":7')
    fixed = json.loads(fix.fix(event)[len(b"data: ") :])
    assert fixed["content_index"] == 0 and fixed["delta"] == '"content_index":7'


def _doc(event: bytes) -> dict[str, object]:
    return dict(json.loads(event[len(b"data: ") :]))


def test_a_calls_done_item_and_the_final_response_keep_the_ids_it_was_announced_with() -> None:
    fix = StreamFix()
    announced = {"type": "function_call", "id": "fc_a", "call_id": "call_a", "name": "f"}
    fix.fix(_event("response.output_item.added", output_index=1, item=announced))
    done = {**announced, "id": None, "status": "completed"}
    mended = _doc(fix.fix(_event("response.output_item.done", output_index=1, item=done)))
    assert mended["item"] == {**announced, "status": "completed"}
    rebuilt = {**announced, "id": "fc_b", "call_id": "call_b"}
    reasoning = {"type": "reasoning", "id": "rs_b"}
    final = {"id": "resp_1", "output": [reasoning, rebuilt]}
    completed = _doc(fix.fix(_event("response.completed", response=final)))
    assert completed["response"] == {"id": "resp_1", "output": [reasoning, announced]}


def test_a_mended_event_keeps_its_event_line() -> None:
    fix = StreamFix()
    announced = {"type": "function_call", "id": "fc_a", "call_id": "call_a", "name": "f"}
    fix.fix(_event("response.output_item.added", output_index=0, item=announced))
    body = {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {**announced, "id": None},
    }
    event = b"event: response.output_item.done\ndata: " + json.dumps(body).encode() + b"\n\n"
    head, data = fix.fix(event).split(b"\n", 1)
    assert head == b"event: response.output_item.done"
    assert json.loads(data[len(b"data: ") :])["item"]["id"] == "fc_a"


@pytest.mark.parametrize("tools", [[], [WEATHER]], ids=["words", "a call"])
def test_the_sdks_stream_helper_reads_a_vllm_pods_stream_through_the_router(
    tools: list[dict[str, object]],
) -> None:
    with fleet() as found, router_in_thread(router_settings(found)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with client.responses.stream(
            model=MODEL,
            input="What is the weather in Paris?",
            tools=tools,  # type: ignore[arg-type]
            extra_headers={"x-gptoss-route": "local"},
        ) as stream:
            final = stream.get_final_response()
    kinds = [item.type for item in final.output]
    assert kinds[0] == "reasoning" and kinds[-1] == ("function_call" if tools else "message")
    if not tools:
        assert final.output_text


def test_the_sdks_stream_helper_fails_on_vllm_017s_own_stream() -> None:
    # The counterfactual: straight from the simulated vLLM 0.17 pod, without the router.
    with fleet() as found:
        client = openai.OpenAI(
            base_url=f"{found.local.base_url}/v1", api_key="unused", max_retries=0
        )
        with (
            pytest.raises(IndexError),
            client.responses.stream(model=MODEL, input="What is new?") as stream,
        ):
            stream.get_final_response()


def test_a_streamed_calls_id_answers_it_in_the_next_turn() -> None:
    with fleet() as found, router_in_thread(router_settings(found)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        local = {"x-gptoss-route": "local"}
        stream = client.responses.create(
            model=MODEL,
            input="Weather in Paris?",
            tools=[WEATHER],
            stream=True,  # type: ignore[list-item]
            extra_headers=local,
        )
        events = list(stream)
        done = [e.item for e in events if e.type == "response.output_item.done"]
        call = next(item for item in done if item.type == "function_call")
        first = next(e.response for e in events if e.type == "response.completed")
        answer = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        follow = client.responses.create(
            model=MODEL,
            input=[answer],
            previous_response_id=first.id,  # type: ignore[list-item]
            tools=[WEATHER],
            extra_headers=local,  # type: ignore[list-item]
        )
    assert follow.status == "completed" and follow.output_text
