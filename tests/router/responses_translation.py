"""Shared pieces of the Responses-to-Chat translation tests: tools, and a request translated
or refused."""

from __future__ import annotations

from typing import Any

import pytest
from responses_checks import valid_chat_request, valid_responses_request

from gptoss_router.errors import BadRequest
from gptoss_router.openai.responses_to_chat import chat_request

MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}, "strict": None}


def translate(**request: Any) -> dict[str, Any]:
    """The chat body for a Responses request, both checked against the SDK's request types."""
    request.setdefault("model", MODEL)
    request.setdefault("input", "hi")
    return valid_chat_request(chat_request(valid_responses_request(request)))


def refusal(**request: Any) -> BadRequest:
    request.setdefault("model", MODEL)
    request.setdefault("input", "hi")
    with pytest.raises(BadRequest) as caught:
        chat_request(request)
    return caught.value


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
