"""The vLLM simulator's chat and completions as vLLM writes them for gpt-oss: tool choice,
chunk shapes, parser flags, context length, per vLLM version.

vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/{protocol,serving,stream_harmony}.py``,
0.32.0 ``vllm/entrypoints/openai/chat_completion/serving.py`` and ``vllm/parser/harmony.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

from gptoss_sim import Running, VllmSim, running
from tests.sim.conftest import FAST, MODEL, SHORT, vllm_config

HELLO = [{"role": "user", "content": "Say hello to the cluster"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(server: Running, **body: Any) -> httpx.Response:
    payload = {"model": MODEL, "messages": HELLO, **body}
    return httpx.post(f"{server.base_url}/v1/chat/completions", json=payload, timeout=30)


def chunks(response: httpx.Response) -> list[dict[str, Any]]:
    lines = [line[len("data: ") :] for line in response.text.splitlines()]
    return [json.loads(line) for line in lines if line.startswith("{")]


def serve(**config: Any) -> Any:
    return running(VllmSim(vllm_config(**config)))


# -- tool choice (item 2) ----------------------------------------------------------------------


def test_required_tool_choice_streams_a_tool_call(vllm: Running) -> None:
    seen = chunks(chat(vllm, tools=[WEATHER], tool_choice="required", stream=True))
    calls = [c for chunk in seen for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert json.loads("".join(c["function"]["arguments"] for c in calls[1:])) == {
        "city": "simulated"
    }
    assert seen[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_named_call_finishes_with_stop_on_vllm_032() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    with serve(vllm_version="0.32.0") as server:
        body = chat(server, tools=[WEATHER], tool_choice=named).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == ""
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_tool_call_ids_are_chatcmpl_tool_and_16_hex_digits(vllm: Running) -> None:
    # make_tool_call_id: "chatcmpl-tool-" + random_uuid(), 16 hex digits in 0.17 and 0.32.
    call = chat(vllm, tools=[WEATHER]).json()["choices"][0]["message"]["tool_calls"][0]
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{16}", call["id"])


def test_a_tool_call_stops_on_the_call_token(vllm: Running) -> None:
    choice = chat(vllm, tools=[WEATHER]).json()["choices"][0]
    assert (choice["finish_reason"], choice["stop_reason"]) == ("tool_calls", 200012)


# -- chunks (item 12) --------------------------------------------------------------------------


def test_chunks_carry_no_usage_key_and_the_last_one_the_usage(vllm: Running) -> None:
    seen = chunks(chat(vllm, stream=True, stream_options={"include_usage": True}))
    assert all("usage" not in c for c in seen[:-1])
    assert seen[-1]["choices"] == [] and seen[-1]["usage"]["completion_tokens"] == 20
    assert "prompt_tokens_details" not in seen[-1]["usage"]


def test_continuous_usage_stats_put_usage_on_every_chunk(vllm: Running) -> None:
    options = {"include_usage": True, "continuous_usage_stats": True}
    seen = chunks(chat(vllm, stream=True, stream_options=options))
    counts = [c["usage"]["completion_tokens"] for c in seen[:-1]]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == 20


def test_the_last_content_chunk_carries_finish_and_stop_reason(vllm: Running) -> None:
    seen = chunks(chat(vllm, stream=True))
    last = seen[-1]["choices"][0]
    assert last["delta"].get("content") and last["finish_reason"] == "stop"
    assert "stop_reason" in last and last["stop_reason"] is None
    assert all("stop_reason" not in c["choices"][0] for c in seen[:-1])
    assert seen[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_one_delta_carries_reasoning_and_content_that_arrive_together() -> None:
    # With --stream-interval 5 an output can span the end of the analysis message and the
    # start of the final one; vLLM merges them into one DeltaMessage (stream_harmony.py).
    with serve(stream_interval=5) as server:
        seen = chunks(chat(server, stream=True))
    deltas = [c["choices"][0]["delta"] for c in seen]
    assert any("reasoning" in d and "content" in d for d in deltas)
    reasoning = "".join(d.get("reasoning", "") for d in deltas)
    assert len(reasoning.split()) == SHORT.reasoning_tokens["medium"]


def test_vllm_017_keeps_an_empty_tool_calls_list_and_032_drops_it(vllm: Running) -> None:
    assert chat(vllm).json()["choices"][0]["message"]["tool_calls"] == []
    with serve(vllm_version="0.32.0") as server:
        assert "tool_calls" not in chat(server).json()["choices"][0]["message"]


def test_models_root_is_the_loaded_model_path() -> None:
    with serve(model_path="/models/gpt-oss-120b") as server:
        card = httpx.get(f"{server.base_url}/v1/models").json()["data"][0]
    assert (card["id"], card["root"]) == (MODEL, "/models/gpt-oss-120b")


# -- parser flags (item 12) --------------------------------------------------------------------


def test_without_the_tool_parser_017_drops_whole_tool_calls_but_streams_them() -> None:
    with serve(tool_call_parser=None, enable_auto_tool_choice=False) as server:
        whole = chat(server, tools=[WEATHER]).json()["choices"][0]
        streamed = chunks(chat(server, tools=[WEATHER], stream=True))
    assert whole["message"]["tool_calls"] == [] and whole["finish_reason"] == "stop"
    assert whole["message"]["content"] is None
    assert any(c["choices"][0]["delta"].get("tool_calls") for c in streamed)
    assert streamed[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_without_the_reasoning_parser_017_still_parses_reasoning_and_032_drops_it() -> None:
    with serve(reasoning_parser=None) as server:
        assert chat(server).json()["choices"][0]["message"]["reasoning"]
    with serve(reasoning_parser=None, vllm_version="0.32.0") as server:
        message = chat(server).json()["choices"][0]["message"]
    assert message["reasoning"] is None and message["content"]


def test_vllm_032_without_any_parser_returns_the_raw_harmony_text() -> None:
    none = {"reasoning_parser": None, "tool_call_parser": None, "vllm_version": "0.32.0"}
    with serve(**none) as server:
        message = chat(server).json()["choices"][0]["message"]
    assert message["content"].startswith("analysis") and "assistantfinal" in message["content"]
    assert message["reasoning"] is None


def test_vllm_032_counts_reasoning_tokens_in_usage_with_the_reasoning_parser() -> None:
    with serve(vllm_version="0.32.0") as server:
        usage = chat(server).json()["usage"]
    assert usage["completion_tokens_details"] == {
        "reasoning_tokens": SHORT.reasoning_tokens["medium"]
    }


# -- context length (item 9) -------------------------------------------------------------------


def test_vllm_017_clamps_max_tokens_to_the_room_the_prompt_leaves() -> None:
    # HELLO counts 13 prompt tokens; a 30-token context leaves 17 for the reply.
    with serve(capacity=replace(FAST, max_model_len=30)) as server:
        body = chat(server, max_tokens=1000).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 17


def test_vllm_017_refuses_a_prompt_that_fills_the_context_in_sampling_params() -> None:
    with serve(capacity=replace(FAST, max_model_len=13)) as server:
        refused = chat(server)
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
        "type": "BadRequestError",
        "param": "max_tokens",
        "code": 400,
    }


def test_vllm_032_refuses_a_prompt_longer_than_the_context() -> None:
    with serve(capacity=replace(FAST, max_model_len=12), vllm_version="0.32.0") as server:
        refused = chat(server)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "Input length (13) exceeds model's maximum context length (12)."
    )


def test_vllm_017_completions_reserve_the_requested_tokens() -> None:
    body = {"model": MODEL, "prompt": "x" * 4 * 20, "max_tokens": 16}
    with serve(capacity=replace(FAST, max_model_len=30)) as server:
        refused = httpx.post(f"{server.base_url}/v1/completions", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "You passed 15 input tokens and requested 16 output tokens. However, the model's "
        "context length is only 30 tokens, resulting in a maximum input length of 14 tokens. "
        "Please reduce the length of the input prompt. (parameter=input_tokens, value=15)"
    )
    with serve(capacity=replace(FAST, max_model_len=30), vllm_version="0.32.0") as server:
        served = httpx.post(f"{server.base_url}/v1/completions", json=body)
    assert served.status_code == 200
    assert served.json()["usage"]["completion_tokens"] == 10


# -- the request body --------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_vllms_bad_request(vllm: Running) -> None:
    refused = httpx.post(
        f"{vllm.base_url}/v1/chat/completions",
        content=b"hello",
        headers={"content-type": "text/plain"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "Bad Request"


def test_a_request_without_a_model_is_served_by_the_served_model(vllm: Running) -> None:
    body = httpx.post(f"{vllm.base_url}/v1/chat/completions", json={"messages": HELLO}).json()
    assert body["model"] == MODEL


def test_the_role_chunk_comes_with_the_first_generated_token() -> None:
    # chat_completion_stream_generator sends the role chunk on the first engine output: a
    # request queued behind a full batch sends nothing until it runs.
    sim = VllmSim(
        vllm_config(
            capacity=replace(FAST, step_base_s=0.01, max_num_seqs=1),
            reply=replace(SHORT, answer_tokens=200),
        )
    )
    payload = {"model": MODEL, "messages": HELLO, "stream": True}
    with running(sim) as server:
        url = f"{server.base_url}/v1/chat/completions"
        with httpx.stream("POST", url, json=payload, timeout=30) as ahead:
            lines = ahead.iter_lines()  # kept: a dropped iterator closes the stream
            next(lines)
            with httpx.stream("POST", url, json=payload, timeout=30) as queued:
                first = json.loads(next(queued.iter_lines())[len("data: ") :])
                # The request ahead has finished before this one's first token, and with it its
                # first chunk.
                finished = sum(
                    sample.value
                    for family in sim.registry.collect()
                    if family.name == "vllm:request_success"
                    for sample in family.samples
                    if sample.name.endswith("_total")
                    and sample.labels.get("finished_reason") == "stop"
                )
                assert finished == 1
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_a_tool_call_counts_as_a_stopped_request_in_the_metrics() -> None:
    # vLLM's engine finish reasons are stop, length, abort, error and repetition
    # (FINISH_REASON_STRINGS, vllm/v1/engine/__init__.py): a tool call stops on <|call|>.
    sim = VllmSim(vllm_config())
    with running(sim) as server:
        assert chat(server, tools=[WEATHER]).json()["choices"][0]["finish_reason"] == "tool_calls"
        reasons = {
            sample.labels["finished_reason"]: sample.value
            for family in sim.registry.collect()
            if family.name == "vllm:request_success"
            for sample in family.samples
            if sample.name.endswith("_total")
        }
    assert reasons == {"stop": 1.0}


# -- what pydantic and SamplingParams refuse (vllm_request_fields) -------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"top_p": 0}, "top_p must be in (0, 1], got 0.0. (parameter=top_p, value=0.0)"),
        ({"temperature": -0.5}, "temperature must be non-negative, got -0.5."),
        ({"frequency_penalty": 3}, "frequency_penalty must be in [-2, 2], got 3.0."),
        ({"logprobs": True, "top_logprobs": 21}, "Requested sample logprobs of 21"),
        ({"top_logprobs": 2}, "when using `top_logprobs`, `logprobs` must be set to true."),
        ({"seed": 1.5}, "got a number with a fractional part"),
        ({"stop": 5}, "Input should be a valid string"),
        ({"user": 5}, "Input should be a valid string"),
        ({"parallel_tool_calls": "x"}, "Input should be a valid boolean"),
        ({"logit_bias": {"1": "x"}}, "unable to parse string as a number"),
        ({"tools": [{**WEATHER, "type": "custom"}]}, "Input should be 'function'"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "nope"}}]},
            "Input should be a valid dictionary",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "response_format.json_schema.name",
        ),
    ],
)
def test_vllm_refuses_a_field_of_another_type_or_out_of_range(
    vllm: Running, body: dict[str, Any], words: str
) -> None:
    refused = chat(vllm, **body)
    assert refused.status_code == 400, refused.text
    assert words in refused.json()["error"]["message"]


def test_a_numeric_string_for_max_tokens_is_taken_as_pydantic_takes_it(vllm: Running) -> None:
    served = chat(vllm, max_tokens="5")
    assert served.status_code == 200
    assert served.json()["usage"]["completion_tokens"] <= 5


def test_stream_options_without_include_usage_still_ask_for_usage(vllm: Running) -> None:
    for options in ({}, {"continuous_usage_stats": True}):
        seen = chunks(chat(vllm, stream=True, stream_options=options))
        assert seen[-1]["choices"] == [] and seen[-1]["usage"]["total_tokens"] > 0
    quiet = chunks(chat(vllm, stream=True, stream_options={"include_usage": False}))
    assert all("usage" not in c or c["usage"] is None for c in quiet)
    plain = chunks(chat(vllm, stream=True))
    assert all(c.get("usage") is None for c in plain)
