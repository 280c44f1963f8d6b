"""A vLLM pod's chat stream, scripted: its chunks, and the error event its engine sends when it
fails inside the stream's generator."""

from __future__ import annotations

from typing import Any

import httpx
from router_fakes import MODEL, sse

# What vLLM's chat_completion_stream_generator yields when its engine fails
# (vllm/entrypoints/openai/serving_chat.py: create_streaming_error_response, then [DONE]).
ENGINE_ERROR = {
    "error": {
        "message": "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }
}


def chat_chunk(content: str) -> dict[str, Any]:
    """One chunk of a chat stream that carries ``content``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }


def streamed(*events: dict[str, Any] | str) -> httpx.Response:
    """An HTTP 200 event stream of ``events``."""
    return httpx.Response(200, content=sse(*events), headers={"content-type": "text/event-stream"})
