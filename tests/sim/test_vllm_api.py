"""The official openai SDK against the vLLM simulator: shapes, streaming, tools, errors."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from gptoss_sim import Running
from gptoss_sim.chat_request import count_prompt
from tests.sim.conftest import MODEL, SHORT, vllm_config

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
HELLO = [{"role": "user", "content": "Say hello to the cluster"}]


def test_chat_answers_with_reasoning_on_the_message_and_counts_usage(
    vllm_client: openai.OpenAI,
) -> None:
    reply = vllm_client.chat.completions.create(model=MODEL, messages=HELLO)
    message = reply.choices[0].message
    # vLLM returns `reasoning` (docs/sources.md, OpenAI API, vLLM PR #27752; PR #33402 removed
    # `reasoning_content`).
    assert message.model_extra is not None and message.model_extra["reasoning"]
    assert "reasoning_content" not in message.model_extra
    assert message.content and reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == count_prompt(HELLO, [])
    assert reply.usage.completion_tokens == SHORT.reasoning_tokens["medium"] + SHORT.answer_tokens


def test_streaming_puts_reasoning_on_the_delta_and_usage_in_a_last_empty_chunk(
    vllm_client: openai.OpenAI,
) -> None:
    stream = vllm_client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning") or "" for c in chunks if c.choices
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning and content
    # OpenAI: the usage chunk has `choices: []` and comes last (docs/sources.md, OpenAI API).
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_reasoning_effort_high_reasons_longer_than_low(vllm_client: openai.OpenAI) -> None:
    def reasoning_tokens(effort: str) -> int:
        reply = vllm_client.chat.completions.create(
            model=MODEL, messages=HELLO, reasoning_effort=effort
        )
        assert reply.usage is not None
        return reply.usage.completion_tokens

    assert reasoning_tokens("high") > reasoning_tokens("medium") > reasoning_tokens("low")


def test_include_reasoning_false_drops_the_chain_of_thought(vllm_client: openai.OpenAI) -> None:
    # docs/sources.md, OpenAI API; vllm-project/recipes OpenAI/GPT-OSS.md: `include_reasoning:
    # false`.
    # vLLM's ChatMessage always serialises `reasoning`; it is null then
    # (vllm/entrypoints/openai/chat_completion/serving.py, chat_completion_full_generator).
    reply = vllm_client.chat.completions.create(
        model=MODEL, messages=HELLO, extra_body={"include_reasoning": False}
    )
    assert (reply.choices[0].message.model_extra or {})["reasoning"] is None
    assert reply.choices[0].message.content


def test_an_effort_gpt_oss_does_not_know_is_a_bad_request(vllm_client: openai.OpenAI) -> None:
    # gpt-oss accepts only low|medium|high (docs/sources.md, OpenAI API).
    with pytest.raises(openai.BadRequestError) as caught:
        vllm_client.chat.completions.create(model=MODEL, messages=HELLO, reasoning_effort="minimal")
    assert caught.value.body["code"] == 400


def test_tool_calls_come_in_vllms_shape(vllm_client: openai.OpenAI) -> None:
    reply = vllm_client.chat.completions.create(model=MODEL, messages=HELLO, tools=[WEATHER_TOOL])
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("chatcmpl-tool-")
    assert set(json.loads(call.function.arguments)) == {"city", "days"}


def test_streamed_tool_calls_name_the_function_once_then_stream_arguments(
    vllm_client: openai.OpenAI,
) -> None:
    stream = vllm_client.chat.completions.create(
        model=MODEL, messages=HELLO, tools=[WEATHER_TOOL], stream=True
    )
    # vLLM opens the call with its id, type and name (arguments "") and streams the arguments
    # in further entries, several per delta when they arrive together
    # (vllm/entrypoints/openai/chat_completion/stream_harmony.py).
    calls = [
        call
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
        for call in c.choices[0].delta.tool_calls
    ]
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == ""
    assert all(c.id is None and c.function and c.function.name is None for c in calls[1:])
    arguments = "".join(c.function.arguments or "" for c in calls if c.function)
    assert json.loads(arguments)["city"]


def test_tool_choice_required_makes_gpt_oss_call_a_tool(vllm_client: openai.OpenAI) -> None:
    # vLLM 0.17 refuses "required" only when no tool parser applies; harmony always parses
    # (vllm/entrypoints/openai/chat_completion/serving.py, render_chat_request). Even after a
    # tool result, "required" makes the model call again.
    answered = [
        *HELLO,
        {"role": "assistant", "tool_calls": [_call("get_weather", '{"city": "Oslo"}')]},
        {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "4 degrees"},
    ]
    reply = vllm_client.chat.completions.create(
        model=MODEL, messages=answered, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_weather"]


def test_a_named_tool_choice_calls_that_function(vllm_client: openai.OpenAI) -> None:
    time_tool = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    reply = vllm_client.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        tools=[WEATHER_TOOL, time_tool],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_time"]


def test_a_tool_choice_naming_no_given_tool_is_vllms_validation_error(
    vllm_client: openai.OpenAI,
) -> None:
    # check_tool_usage (chat_completion/protocol.py) raises inside pydantic: FastAPI's 400.
    with pytest.raises(openai.BadRequestError) as caught:
        vllm_client.chat.completions.create(
            model=MODEL,
            messages=HELLO,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert caught.value.body["type"] == "Bad Request"
    assert "does not match any of the specified `tools`" in caught.value.body["message"]


def _call(name: str, arguments: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-tool-1",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


class Forecast(BaseModel):
    city: str
    celsius: float
    sunny: bool


def test_structured_output_parses_into_the_requested_model(vllm_client: openai.OpenAI) -> None:
    parsed = vllm_client.chat.completions.parse(
        model=MODEL, messages=HELLO, response_format=Forecast
    )
    assert isinstance(parsed.choices[0].message.parsed, Forecast)


async def test_the_async_client_streams_too(vllm: Running) -> None:
    async with openai.AsyncOpenAI(
        base_url=vllm.openai_base_url, api_key="x", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text


def test_unknown_models_get_vllms_404_with_an_integer_code(vllm_client: openai.OpenAI) -> None:
    # vLLM >= 0.10.1 error envelope: nested, integer `code` (docs/sources.md, OpenAI API;
    # vLLM PR #22099);
    # _check_model names the parameter (vllm/entrypoints/openai/engine/serving.py).
    with pytest.raises(openai.NotFoundError) as caught:
        vllm_client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert caught.value.body == {
        "message": "The model `gpt-4o` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


def test_a_prompt_longer_than_max_model_len_is_a_bad_request(vllm_client: openai.OpenAI) -> None:
    # vLLM 0.17 renders gpt-oss chat with harmony and clamps max_tokens to what the context
    # leaves (get_max_tokens), so an over-long prompt fails in SamplingParams.
    huge = [{"role": "user", "content": "x" * 4 * 9_000}]
    with pytest.raises(openai.BadRequestError, match="max_tokens must be at least 1, got -"):
        vllm_client.chat.completions.create(model=MODEL, messages=huge)


def test_completions_return_raw_text_without_reasoning(vllm_client: openai.OpenAI) -> None:
    # Reasoning is parsed only on chat completions (docs/sources.md, OpenAI API).
    reply = vllm_client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    streamed = "".join(
        c.choices[0].text
        for c in vllm_client.completions.create(
            model=MODEL, prompt="Once upon a time", max_tokens=5, stream=True
        )
        if c.choices
    )
    assert streamed == reply.choices[0].text


def test_responses_count_input_output_and_reasoning_tokens(vllm_client: openai.OpenAI) -> None:
    # vLLM 0.17 counts Responses usage in HarmonyContext (responses/context.py).
    response = vllm_client.responses.create(model=MODEL, input="hello", reasoning={"effort": "low"})
    assert response.output_text
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.usage is not None
    assert response.usage.output_tokens == SHORT.reasoning_tokens["low"] + SHORT.answer_tokens
    assert response.usage.output_tokens_details.reasoning_tokens == SHORT.reasoning_tokens["low"]
    assert response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_responses_stream_typed_events_to_a_final_response(vllm_client: openai.OpenAI) -> None:
    stream = vllm_client.responses.create(model=MODEL, input="hello", stream=True)
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.reasoning_text.delta" in kinds and "response.output_text.delta" in kinds
    final = events[-1]
    assert final.type == "response.completed" and final.response.output_text


def test_responses_call_functions_streamed_or_not(vllm_client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": WEATHER_TOOL["function"]["parameters"],
    }
    response = vllm_client.responses.create(model=MODEL, input="weather?", tools=[tool])
    assert response.output[-1].type == "function_call"
    kinds = [
        e.type
        for e in vllm_client.responses.create(
            model=MODEL, input="weather?", tools=[tool], stream=True
        )
    ]
    assert "response.function_call_arguments.done" in kinds


def test_models_lists_the_served_model_with_its_context_length(vllm_client: openai.OpenAI) -> None:
    models = vllm_client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].owned_by == "vllm"
    assert (models[0].model_extra or {})["root"] == MODEL
    assert (models[0].model_extra or {})["max_model_len"] == vllm_config().capacity.max_model_len


def test_health_is_200_with_an_empty_body_once_the_weights_are_loaded(vllm: Running) -> None:
    # While loading, vLLM refuses connections (tests/sim/test_vllm_engine_lifecycle.py).
    ready = httpx.get(f"{vllm.base_url}/health")
    assert (ready.status_code, ready.content) == (200, b"")


def test_health_is_503_once_the_engine_is_dead_and_requests_fail(vllm: Running) -> None:
    base = vllm.base_url
    assert httpx.get(f"{base}/health").status_code == 200
    httpx.post(f"{base}/_sim/engine", json={"dead": True})
    assert httpx.get(f"{base}/health").status_code == 503
    client = openai.OpenAI(base_url=vllm.openai_base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=HELLO)
