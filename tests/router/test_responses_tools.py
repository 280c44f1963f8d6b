"""Responses requests that force a tool call reach a function call on every backend: vLLM's
own /v1/responses serves only ``tool_choice: auto`` with harmony, so the router sends the rest
through its Chat Completions."""

from __future__ import annotations

import openai
import pytest
from tests.router.live import fleet, router_in_thread, router_settings

MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CLOCK = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}


@pytest.mark.parametrize(
    ("choice", "called"),
    [("required", "get_weather"), ({"type": "function", "name": "get_time"}, "get_time")],
)
@pytest.mark.parametrize("route", ["local", "hosted"])
def test_a_forced_tool_choice_gets_a_call_of_that_tool_locally_and_hosted(
    choice: object, called: str, route: str
) -> None:
    with fleet() as found, router_in_thread(router_settings(found)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        raw = client.responses.with_raw_response.create(  # type: ignore[call-overload]
            model=MODEL,
            input="What is the weather in Paris?",
            tools=[WEATHER, CLOCK],
            tool_choice=choice,
            extra_headers={"x-gptoss-route": route},
        )
        response = raw.parse()
    assert (raw.headers["x-gptoss-backend"] == "local") == (route == "local")
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and calls[0].name == called
