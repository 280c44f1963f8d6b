"""Reading inbound requests: validation names the parameter, features drive routing."""

from __future__ import annotations

import json

import pytest

from gptoss_router.errors import BadRequest
from gptoss_router.openai.inbound import read_inbound


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_body_that_is_not_json_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        read_inbound("chat", b"{nope")


def test_a_missing_model_names_the_model_parameter() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("chat", body(messages=[]))
    assert caught.value.param == "model"


@pytest.mark.parametrize(
    ("route", "field"), [("chat", "messages"), ("completions", "prompt"), ("responses", "input")]
)
def test_each_route_requires_its_own_input_field(route: str, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound(route, body(model="m"))  # type: ignore[arg-type]
    assert caught.value.param == field


def test_stream_must_be_a_boolean() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("chat", body(model="m", messages=[], stream="yes"))
    assert caught.value.param == "stream"


def test_stream_options_without_streaming_is_refused_like_openai_does() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("chat", body(model="m", messages=[], stream_options={"include_usage": True}))
    assert caught.value.param == "stream_options"


def test_an_unknown_reasoning_effort_names_the_parameter() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("chat", body(model="m", messages=[], reasoning_effort="extreme"))
    assert caught.value.param == "reasoning_effort"


def test_responses_reasoning_effort_is_checked_under_its_nested_name() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("responses", body(model="m", input="hi", reasoning={"effort": "huge"}))
    assert caught.value.param == "reasoning.effort"


def test_max_tokens_must_be_a_positive_integer() -> None:
    with pytest.raises(BadRequest) as caught:
        read_inbound("chat", body(model="m", messages=[], max_tokens=0))
    assert caught.value.param == "max_tokens"


def test_tools_and_a_strict_schema_are_features_of_the_request() -> None:
    inbound = read_inbound(
        "chat",
        body(
            model="m",
            messages=[],
            tools=[{"type": "function", "function": {"name": "f"}}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "strict": True}},
        ),
    )
    assert inbound.features == {
        "chat",
        "tools",
        "json_schema",
        "json_schema_strict",
        "tools_with_json",
    }


def test_a_responses_follow_up_needs_a_stateful_backend() -> None:
    inbound = read_inbound("responses", body(model="m", input="hi", previous_response_id="resp_1"))
    assert "responses_stateful" in inbound.features


def test_only_an_explicit_request_for_usage_keeps_the_usage_chunk() -> None:
    asked = read_inbound(
        "chat", body(model="m", messages=[], stream=True, stream_options={"include_usage": True})
    )
    silent = read_inbound("chat", body(model="m", messages=[], stream=True))
    assert (asked.wants_usage, silent.wants_usage) == (True, False)


def test_max_completion_tokens_sets_the_expected_output_size() -> None:
    inbound = read_inbound("chat", body(model="m", messages=[], max_completion_tokens=77))
    assert inbound.output_tokens == 77
