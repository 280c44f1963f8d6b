"""A Responses request's ``instructions`` reach the model on a vLLM pod, with or without tools.

vLLM 0.17 renders them for gpt-oss only in the developer message a function tool brings
(``responses/serving.py``, ``_construct_input_messages_with_harmony``); the simulated pod
renders as vLLM does, so its ``usage.input_tokens`` say whether they were rendered. The router
sends instructions without a function tool as a leading developer input item instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from tests.router.live import fleet, router_in_thread, router_settings

from gptoss_sim import tokens

MODEL = "gpt-oss-120b"
LOCAL = {"x-gptoss-route": "local"}
INSTRUCTIONS = "Answer as the on-call SRE of the payments team, in two sentences at most. " * 4
QUESTION = "Why is checkout slow?"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with fleet() as found, router_in_thread(router_settings(found)) as (url, _):
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _create(client: openai.OpenAI, **body: Any) -> Any:
    raw = client.responses.with_raw_response.create(model=MODEL, extra_headers=LOCAL, **body)
    assert raw.headers["x-gptoss-backend"] == "local"
    return raw.parse()


def test_instructions_without_a_tool_reach_the_model_on_a_vllm_pod(client: openai.OpenAI) -> None:
    plain = _create(client, input=QUESTION)
    instructed = _create(client, input=QUESTION, instructions=INSTRUCTIONS)
    assert plain.usage is not None and instructed.usage is not None
    rendered = instructed.usage.input_tokens - plain.usage.input_tokens
    assert rendered >= tokens.count_text(INSTRUCTIONS)
    assert instructed.instructions == INSTRUCTIONS


def test_instructions_beside_a_tool_are_sent_as_they_came(client: openai.OpenAI) -> None:
    plain = _create(client, input=QUESTION, tools=[WEATHER])
    instructed = _create(client, input=QUESTION, tools=[WEATHER], instructions=INSTRUCTIONS)
    assert plain.usage is not None and instructed.usage is not None
    # In the developer message with the tools: their text alone, no message of their own.
    rendered = instructed.usage.input_tokens - plain.usage.input_tokens
    assert rendered == tokens.count_text(INSTRUCTIONS)
    assert instructed.instructions == INSTRUCTIONS


def test_a_streamed_response_with_instructions_echoes_them(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model=MODEL, input=QUESTION, instructions=INSTRUCTIONS, extra_headers=LOCAL
    ) as stream:
        final = stream.get_final_response()
    assert final.instructions == INSTRUCTIONS
    assert final.usage is not None
    plain = _create(client, input=QUESTION)
    assert plain.usage is not None
    assert final.usage.input_tokens - plain.usage.input_tokens >= tokens.count_text(INSTRUCTIONS)


def test_the_kept_turn_holds_the_apps_input_not_the_item_sent_for_the_instructions(
    client: openai.OpenAI,
) -> None:
    first = _create(client, input=QUESTION, instructions=INSTRUCTIONS, store=True)
    kept = client.responses.input_items.list(first.id)
    assert [item.role for item in kept.data if item.type == "message"] == ["user"]
    assert client.responses.retrieve(first.id).instructions == INSTRUCTIONS
    # Instructions are the turn's own: a follow-up without them is sent without them.
    follow = _create(client, input="And now?", previous_response_id=first.id)
    assert follow.instructions is None
