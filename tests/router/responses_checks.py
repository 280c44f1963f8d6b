"""Shape checks for the Responses <-> Chat Completions translation, by the official SDK's types.

Every check validates with the ``openai`` package's pydantic types and, for response objects and
stream events, also fails on fields those types do not know, so a misspelt or misplaced field
is caught rather than silently carried as an extra.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from pydantic import BaseModel, TypeAdapter

from gptoss_router.openai.sse import EventSplitter, event_data, event_name

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
# Kept for the whole run: pydantic checks ``Iterable`` fields lazily, with the adapter's schema.
RESPONSES_REQUEST: dict[bool, TypeAdapter[Any]] = {
    False: TypeAdapter(ResponseCreateParamsNonStreaming),
    True: TypeAdapter(ResponseCreateParamsStreaming),
}
CHAT_REQUEST: dict[bool, TypeAdapter[Any]] = {
    False: TypeAdapter(CompletionCreateParamsNonStreaming),
    True: TypeAdapter(CompletionCreateParamsStreaming),
}
# Fields OpenAI's API reference documents that this SDK version's types do not have yet.
DOCUMENTED_EXTRAS = {("ResponseFunctionCallArgumentsDoneEvent", "name")}


def extras(value: Any, where: str = "") -> list[str]:
    """Paths of fields anywhere in ``value`` that its SDK model does not declare."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        for name in value.__pydantic_extra__ or {}:
            if (type(value).__name__, name) not in DOCUMENTED_EXTRAS:
                found.append(f"{where}.{name}")
        for name in type(value).model_fields:
            found.extend(extras(getattr(value, name), f"{where}.{name}"))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(extras(item, f"{where}[{index}]"))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(extras(item, f"{where}.{key}"))
    return found


def valid_response(doc: dict[str, Any]) -> Response:
    """``doc`` as the SDK's ``Response``, which must have no unknown fields."""
    model = Response.model_validate(json.loads(json.dumps(doc)))
    assert extras(model) == []
    return model


def valid_event(doc: dict[str, Any]) -> Any:
    """``doc`` as one of the SDK's stream events, which must have no unknown fields."""
    model = EVENTS.validate_python(json.loads(json.dumps(doc)))
    assert extras(model) == [], doc["type"]
    return model


def valid_completion(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, after checking it is a ``chat.completion`` as the SDK reads it."""
    ChatCompletion.model_validate(doc)
    return doc


def valid_chunk(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, after checking it is a ``chat.completion.chunk`` as the SDK reads it."""
    ChatCompletionChunk.model_validate(doc)
    return doc


def valid_responses_request(body: dict[str, Any]) -> dict[str, Any]:
    """``body``, after checking it is a Responses create request by the SDK's params type."""
    _drain(RESPONSES_REQUEST[bool(body.get("stream"))].validate_python(body))
    return body


def valid_chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """``body``, after checking it is a Chat Completions create request by the SDK's type."""
    _drain(CHAT_REQUEST[bool(body.get("stream"))].validate_python(body))
    return body


def _drain(value: Any) -> None:
    """Walk a validated value; pydantic checks ``Iterable`` fields only as they are consumed."""
    if isinstance(value, dict):
        value = value.values()
    elif isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return
    for item in value:
        _drain(item)


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """The events of an SSE byte stream; each ``event:`` name must equal its ``type``."""
    splitter = EventSplitter()
    events = []
    for frame in splitter.feed(raw):
        data = event_data(frame)
        assert data is not None
        doc = json.loads(data)
        assert event_name(frame) == doc["type"].encode()
        events.append(doc)
    assert splitter.pending == b""
    return events


def sdk_client(reply: bytes, content_type: str) -> openai.OpenAI:
    """An OpenAI client whose every request is answered with ``reply`` (no network)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=reply)

    transport = httpx.MockTransport(answer)
    return openai.OpenAI(
        api_key="test",
        base_url="http://router.test/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A vLLM-shaped ``chat.completion.chunk`` (a usage-only chunk when ``delta`` is None)."""
    doc: dict[str, Any] = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": "gpt-oss-120b",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        doc["usage"] = usage
    return valid_chunk(doc)


def tool_delta(
    index: int, *, id_: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    """A delta carrying one piece of tool call ``index``."""
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_ is not None:
        call["id"], call["type"] = id_, "function"
    if name is not None:
        call["function"]["name"] = name
    return {"tool_calls": [call]}


USAGE = {
    "prompt_tokens": 42,
    "completion_tokens": 17,
    "total_tokens": 59,
    "prompt_tokens_details": {"cached_tokens": 32},
    "completion_tokens_details": {"reasoning_tokens": 9},
}


def pieces(text: str, size: int = 3) -> Iterator[str]:
    """``text`` cut into pieces of ``size`` characters, as a stream would deliver it."""
    for start in range(0, len(text), size):
        yield text[start : start + size]
