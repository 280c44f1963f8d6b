"""The vLLM simulator's ``/v1/responses`` as vLLM serves it: the store, tools, events, usage.

vLLM 0.17.0 ``vllm/entrypoints/openai/responses/{serving,streaming_events,context}.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from gptoss_sim import ReplyParams, Running, VllmSim, running, tokens
from tests.sim.conftest import FAST, MODEL, SHORT, vllm_config
from tests.waiting import eventually

TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def create(server: Running, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/responses", json={"model": MODEL, **body}, timeout=30)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    lines = [line[len("data: ") :] for line in response.text.splitlines()]
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def stored() -> Iterator[Running]:
    with running(VllmSim(vllm_config(responses_store=True))) as server:
        yield server


# -- the store (item 1) ------------------------------------------------------------------------


def test_without_the_store_a_previous_response_id_is_vllms_404(vllm: Running) -> None:
    first = create(vllm, input="hello")
    assert first.status_code == 200
    follow = create(vllm, input="and then?", previous_response_id=first.json()["id"])
    assert follow.status_code == 404
    assert follow.json() == {
        "error": {
            "message": f"Response with id '{first.json()['id']}' not found.",
            "type": "invalid_request_error",
            "param": "response_id",
            "code": 404,
        }
    }


def test_without_the_store_store_true_is_served_but_nothing_is_kept(vllm: Running) -> None:
    # vLLM silently turns store off (create_responses) and keeps nothing to GET or cancel.
    made = create(vllm, input="hello", store=True)
    assert made.status_code == 200 and "store" not in made.json()
    rid = made.json()["id"]
    assert httpx.get(f"{vllm.base_url}/v1/responses/{rid}").status_code == 404
    assert httpx.post(f"{vllm.base_url}/v1/responses/{rid}/cancel").status_code == 404


def test_without_the_store_background_is_refused(vllm: Running) -> None:
    refused = create(vllm, input="later", background=True)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "background"
    assert "VLLM_ENABLE_RESPONSES_API_STORE=1" in refused.json()["error"]["message"]


def test_with_the_store_a_follow_up_turn_carries_the_previous_turn(stored: Running) -> None:
    first = create(stored, input="hello").json()
    alone = create(stored, input="and then?").json()
    follow = create(stored, input="and then?", previous_response_id=first["id"]).json()
    assert follow["previous_response_id"] == first["id"]
    history = first["usage"]["input_tokens"] + first["usage"]["output_tokens"]
    assert follow["usage"]["input_tokens"] == alone["usage"]["input_tokens"] + history
    assert httpx.get(f"{stored.base_url}/v1/responses/{first['id']}").json() == first


def test_with_the_store_a_follow_up_finds_the_turn_it_continues_in_the_prefix_cache(
    stored: Running,
) -> None:
    # vLLM renders a follow-up from its msg_store: the earlier turn's messages come first, so
    # their blocks are the ones the earlier turn left in the cache.
    long = "Answer as the on-call engineer would, citing the runbook. " * 80
    first = create(stored, instructions=long, tools=[TOOL], input="Is the queue healthy?").json()
    follow = create(stored, input="And the p99?", previous_response_id=first["id"]).json()
    fresh = create(stored, input="And the p99?").json()
    cached = follow["usage"]["input_tokens_details"]["cached_tokens"]
    assert cached >= 0.9 * first["usage"]["input_tokens"]
    assert fresh["usage"]["input_tokens_details"]["cached_tokens"] == 0


def test_the_store_belongs_to_one_server_process(stored: Running) -> None:
    # Another pod (another process) never saw the response: a follow-up there is a 404.
    with running(VllmSim(vllm_config(responses_store=True))) as other:
        rid = create(stored, input="hello").json()["id"]
        assert create(other, input="more", previous_response_id=rid).status_code == 404
        assert create(stored, input="more", previous_response_id=rid).status_code == 200


def test_store_false_keeps_a_response_out_of_the_store(stored: Running) -> None:
    rid = create(stored, input="hello", store=False).json()["id"]
    assert httpx.get(f"{stored.base_url}/v1/responses/{rid}").status_code == 404


def test_a_finished_response_cannot_be_cancelled(stored: Running) -> None:
    rid = create(stored, input="hello").json()["id"]
    refused = httpx.post(f"{stored.base_url}/v1/responses/{rid}/cancel")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Cannot cancel a synchronous response."


def test_a_background_response_is_queued_then_completes(stored: Running) -> None:
    queued = create(stored, input="later", background=True).json()
    assert (queued["status"], queued["output"], queued["usage"]) == ("queued", [], None)
    url = f"{stored.base_url}/v1/responses/{queued['id']}"
    done = eventually(
        lambda: (body := httpx.get(url).json())["status"] == "completed" and body,
        timeout=10,
        what="background response completed",
    )
    assert done["output"][-1]["type"] == "message" and done["usage"]["output_tokens"] > 0


def test_a_running_background_response_can_be_cancelled() -> None:
    slow = vllm_config(
        responses_store=True,
        capacity=replace(FAST, step_base_s=0.05),
        reply=ReplyParams(reasoning_tokens={"low": 40, "medium": 40, "high": 40}),
    )
    with running(VllmSim(slow)) as server:
        rid = create(server, input="slowly", background=True).json()["id"]
        cancelled = httpx.post(f"{server.base_url}/v1/responses/{rid}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        kept = httpx.get(f"{server.base_url}/v1/responses/{rid}").json()
        assert kept["status"] == "cancelled" and kept["output"] == []


def test_a_streamed_background_response_replays_after_a_sequence_number(stored: Running) -> None:
    streamed = events(create(stored, input="later", background=True, stream=True))
    assert streamed[-1]["type"] == "response.completed"
    rid = streamed[0]["response"]["id"]
    replay = httpx.get(
        f"{stored.base_url}/v1/responses/{rid}", params={"stream": "true", "starting_after": 3}
    )
    again = events(replay)
    assert [e["sequence_number"] for e in again] == [e["sequence_number"] for e in streamed[4:]]


# -- tools (items 2 and 3) ---------------------------------------------------------------------


def test_streamed_function_calls_follow_vllms_events(vllm: Running) -> None:
    seen = events(create(vllm, input="weather?", tools=[TOOL], stream=True))
    kinds = [e["type"] for e in seen]
    first = kinds.index("response.function_call_arguments.delta")
    added = seen[first - 1]
    assert added["type"] == "response.output_item.added"
    assert added["item"]["type"] == "function_call" and added["item"]["status"] == "in_progress"
    deltas = [e["delta"] for e in seen if e["type"] == "response.function_call_arguments.delta"]
    done = next(e for e in seen if e["type"] == "response.function_call_arguments.done")
    assert "".join(deltas) == done["arguments"] and done["name"] == "get_weather"
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    assert seen[-2]["item"]["arguments"] == done["arguments"]
    assert [e["sequence_number"] for e in seen] == list(range(len(seen)))
    final = seen[-1]["response"]["output"][-1]
    assert final["type"] == "function_call" and json.loads(final["arguments"])["city"]


# 0.17's stream keeps the content index over the response (StreamingState.reset_for_new_item
# leaves current_content_index), builds a call's done item with item_id where the model has id,
# and rebuilds the final response's items with fresh ids (responses/harmony.py).


def _first_text_index(seen: list[dict[str, Any]]) -> int:
    return int(next(e for e in seen if e["type"] == "response.output_text.delta")["content_index"])


def test_vllm_017_numbers_a_messages_text_after_reasoning_as_its_second_part(
    vllm: Running,
) -> None:
    assert _first_text_index(events(create(vllm, input="What is new?", stream=True))) == 1


def test_vllm_032_numbers_content_parts_within_each_item() -> None:
    with running(VllmSim(vllm_config(vllm_version="0.32.0"))) as server:
        assert _first_text_index(events(create(server, input="What is new?", stream=True))) == 0


def test_vllm_017_streams_a_call_whose_ids_change_after_it_was_announced(vllm: Running) -> None:
    seen = events(create(vllm, input="weather?", tools=[TOOL], stream=True))
    added = next(
        e
        for e in seen
        if e["type"] == "response.output_item.added" and e["item"]["type"] == "function_call"
    )
    done = next(
        e
        for e in seen
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
    )
    final = seen[-1]["response"]["output"][-1]
    assert added["item"]["id"] and done["item"]["id"] is None
    assert done["item"]["item_id"] == added["item"]["id"]
    assert final["call_id"] != added["item"]["call_id"] and final["id"] != added["item"]["id"]


def test_vllm_017_serves_only_tool_choice_auto_on_responses(vllm: Running) -> None:
    refused = create(vllm, input="weather?", tools=[TOOL], tool_choice="required")
    assert refused.status_code == 501
    assert refused.json()["error"]["type"] == "NotImplementedError"


def test_vllm_032_calls_the_named_function_on_responses() -> None:
    other = {**TOOL, "name": "get_time"}
    with running(VllmSim(vllm_config(vllm_version="0.32.0"))) as server:
        body = create(
            server,
            input="weather?",
            tools=[TOOL, other],
            tool_choice={"type": "function", "name": "get_time"},
        ).json()
    assert body["output"][-1]["name"] == "get_time"
    assert body["tool_choice"] == {"name": "get_time", "type": "function"}


# -- the prompt: instructions and tools ---------------------------------------------------------
# vLLM 0.17.0 responses/serving.py _construct_input_messages_with_harmony renders a developer
# message (instructions and function tools) only for a request with a custom tool; 0.32.0
# (renderers/online_renderer.py build_harmony_preamble) renders instructions either way.

INSTRUCTIONS = "Answer as the on-call SRE of the payments team, in two sentences at most. " * 4


def _prompt_tokens(server: Running, **body: Any) -> int:
    made = create(server, input="Why is checkout slow?", **body)
    assert made.status_code == 200, made.text
    return int(made.json()["usage"]["input_tokens"])


def test_vllm_017_renders_no_instructions_for_a_request_without_a_function_tool(
    vllm: Running,
) -> None:
    assert _prompt_tokens(vllm, instructions=INSTRUCTIONS) == _prompt_tokens(vllm)


def test_vllm_017_renders_instructions_beside_the_function_tools(vllm: Running) -> None:
    with_them = _prompt_tokens(vllm, instructions=INSTRUCTIONS, tools=[TOOL])
    assert with_them == _prompt_tokens(vllm, tools=[TOOL]) + tokens.count_text(INSTRUCTIONS)


def test_a_tool_output_answers_only_a_call_harmony_can_find(stored: Running) -> None:
    """harmony renders a tool's answer under the call's name, found among the previous
    response's output and the calls before it in the input; none found is vLLM's 400."""
    first = create(stored, input="weather?", tools=[TOOL]).json()
    call = next(item for item in first["output"] if item["type"] == "function_call")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    follow = create(stored, input=[output], tools=[TOOL], previous_response_id=first["id"])
    assert follow.status_code == 200
    stray = {**output, "call_id": "call_typo"}
    refused = create(stored, input=[stray], tools=[TOOL], previous_response_id=first["id"])
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "No call message found for call_typo"
    assert refused.json()["error"]["type"] == "BadRequestError"
    # stateless: the call must come before its output in the input
    assert create(stored, input=[call, output], tools=[TOOL], store=False).status_code == 200
    assert create(stored, input=[output, call], tools=[TOOL], store=False).status_code == 400


def test_vllm_017_renders_a_developer_item_as_instructions(vllm: Running) -> None:
    developer = {"role": "developer", "content": INSTRUCTIONS}
    user = {"role": "user", "content": "Why is checkout slow?"}
    made = create(vllm, input=[developer, user])
    assert made.json()["usage"]["input_tokens"] > _prompt_tokens(vllm) + 40


def test_vllm_032_renders_instructions_without_a_function_tool() -> None:
    with running(VllmSim(vllm_config(vllm_version="0.32.0"))) as server:
        plain = _prompt_tokens(server)
        with_them = _prompt_tokens(server, instructions=INSTRUCTIONS)
    framing = tokens.MESSAGE_FRAMING_TOKENS
    assert with_them == plain + tokens.count_text(INSTRUCTIONS) + framing


def test_the_system_instructions_variable_renders_them_in_the_system_message() -> None:
    config = vllm_config(harmony_system_instructions=True)
    with running(VllmSim(config)) as server:
        plain = _prompt_tokens(server)
        with_them = _prompt_tokens(server, instructions=INSTRUCTIONS)
    assert with_them == plain + tokens.count_text(INSTRUCTIONS)


# -- usage (item 4) ----------------------------------------------------------------------------


def test_streamed_and_whole_responses_count_the_same_usage(vllm: Running) -> None:
    whole = create(vllm, input="hello", reasoning={"effort": "high"}).json()["usage"]
    streamed = events(create(vllm, input="hello", reasoning={"effort": "high"}, stream=True))
    assert streamed[-1]["response"]["usage"] == whole
    assert whole["output_tokens_details"]["reasoning_tokens"] == SHORT.reasoning_tokens["high"]
    assert whole["output_tokens"] == SHORT.reasoning_tokens["high"] + SHORT.answer_tokens
    assert whole["input_tokens_details"]["input_tokens_per_turn"] == [whole["input_tokens"]]
    assert whole["total_tokens"] == whole["input_tokens"] + whole["output_tokens"]


def test_tool_call_arguments_count_as_reasoning_tokens(vllm: Running) -> None:
    # HarmonyContext._update_num_reasoning_tokens counts commentary with a recipient.
    body = create(vllm, input="weather?", tools=[TOOL]).json()
    usage = body["usage"]
    reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    assert reasoning == usage["output_tokens"] > SHORT.reasoning_tokens["medium"]


def test_a_cut_response_is_incomplete_and_still_counted(vllm: Running) -> None:
    body = create(vllm, input="hello", max_output_tokens=3).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["output_tokens"] == 3 and body["max_output_tokens"] == 3


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"top_p": 0}, "top_p must be in (0, 1], got 0.0."),
        ({"temperature": -1}, "temperature must be non-negative"),
        ({"seed": 1.5}, "got a number with a fractional part"),
    ],
)
def test_vllm_refuses_a_responses_field_of_another_type_or_out_of_range(
    vllm: Running, body: dict[str, Any], words: str
) -> None:
    refused = create(vllm, input="hello", **body)
    assert refused.status_code == 400, refused.text
    assert words in refused.json()["error"]["message"]
