"""Every value of a full request replaced, one at a time, by JSON of another shape, against the
real router with a vLLM simulator and the hosted providers' simulators upstream: the answer is
served or an OpenAI-shaped 4xx, never a 5xx. Chat Completions with tools and a structured
output, a Responses turn with every kind of input item, and a new conversation with items:
the paths where a client's value reaches the router's own code (membership tests, translation,
the stored state, the warm-up heads)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from live import fleet, router_in_thread, router_settings

pytestmark = pytest.mark.timeout(300)
MODEL = "gpt-oss-120b"
TOOL = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
CHAT = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    "tools": [{"type": "function", "function": {k: v for k, v in TOOL.items() if k != "type"}}],
    "tool_choice": "auto",
    "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    "reasoning_effort": "low",
    "max_tokens": 8,
}
RESPONSES = {
    "model": MODEL,
    "instructions": "Be brief.",
    "input": [
        {"type": "message", "role": "developer", "content": "Answer in French."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Paris?"}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ],
    "tools": [TOOL],
    "tool_choice": "auto",
    "text": {"format": {"type": "json_schema", "name": "a", "schema": SCHEMA}},
    "reasoning": {"effort": "low"},
    "max_output_tokens": 16,
    "store": True,
}
CONVERSATION = {
    "items": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "message", "role": "assistant", "content": "Hello."},
    ],
    "metadata": {"topic": "greeting"},
}
ODD: tuple[Any, ...] = (None, True, -1, 1.5, "", "x", [], ["x"], {}, {"x": 1}, [{}])


def _paths(doc: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path to a value inside ``doc``, containers included."""
    items: Any = ()
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _replaced(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    parent: Any = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def _cases(route: str, doc: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(route, _replaced(doc, path, value), id=f"{route}:{'.'.join(map(str, path))}")
        for path in _paths(doc)
        for value in ODD
    ]


CASES = [
    *_cases("/v1/chat/completions", CHAT),
    *_cases("/v1/responses", RESPONSES),
    *_cases("/v1/conversations", CONVERSATION),
]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with (
        fleet() as sims,
        router_in_thread(router_settings(sims)) as (url, _),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_the_full_requests_themselves_are_served(http: httpx.Client) -> None:
    for route, body in (
        ("/v1/chat/completions", CHAT),
        ("/v1/responses", RESPONSES),
        ("/v1/conversations", CONVERSATION),
    ):
        response = http.post(route, json=body)
        assert response.status_code == 200, (route, response.text[:300])


def test_any_value_of_another_shape_is_served_or_refused_in_openai_shape(
    http: httpx.Client,
) -> None:
    failures = []
    for case in CASES:
        route, body = case.values
        response = http.post(route, json=body)
        if response.status_code == 200:
            continue
        try:
            error = response.json()["error"]
            shaped = set(error) == {"message", "type", "param", "code"} and bool(error["message"])
        except (ValueError, KeyError, TypeError):
            shaped = False
        if response.status_code >= 500 or not shaped:
            failures.append((case.id, response.status_code, response.text[:160]))
    assert not failures, f"{len(failures)} of {len(CASES)}: {failures[:12]}"
