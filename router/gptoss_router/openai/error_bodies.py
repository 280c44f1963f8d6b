"""OpenAI-shaped error bodies: from our own errors, and from whatever an upstream sent.

OpenAI's ``ErrorResponse`` is ``{"error": {"message", "type", "param", "code"}}`` with ``code``
a string or null (openai/openai-openapi). Upstreams differ: vLLM >= 0.10.1 puts the integer
status in ``code``, older vLLM and Cerebras send a flat object, OpenRouter an integer code
(docs/sources.md, OpenAI API and Providers).
"""

from __future__ import annotations

import json
from typing import Any

from gptoss_router.errors import RouterError

__all__ = ["error_body", "error_event", "normalise_error"]

_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",  # as OpenAI types its own 404s (a model not found)
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(err: RouterError) -> dict[str, Any]:
    """The JSON body for one of our errors."""
    return {"error": _error(err.message, err.kind, err.param, err.code)}


def error_event(message: str, *, responses: bool) -> bytes:
    """An in-band SSE error event that ends a stream already under way."""
    if responses:
        event = {"type": "error", "code": "upstream_error", "message": message, "param": None}
        return b"event: error\ndata: " + json.dumps(event).encode() + b"\n\n"
    payload = {"error": _error(message, "upstream_error", None, "upstream_disconnected")}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def normalise_error(status: int, body: bytes) -> dict[str, Any]:
    """Turn an upstream error body of any known shape into OpenAI's."""
    fallback_type = _TYPES_BY_STATUS.get(status, "server_error" if status >= 500 else "error")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    inner: Any = parsed.get("error", parsed) if isinstance(parsed, dict) else None
    if isinstance(inner, str):  # {"error": "text"}
        inner = {"message": inner}
    if not isinstance(inner, dict):
        text = body.decode(errors="replace").strip()[:500] or f"upstream returned {status}"
        return {"error": _error(text, fallback_type, None, None)}
    kind = inner.get("type")
    code = inner.get("code")
    return {
        "error": _error(
            str(inner.get("message") or f"upstream returned {status}"),
            kind if isinstance(kind, str) and not kind.endswith("Error") else fallback_type,
            inner.get("param") if isinstance(inner.get("param"), str) else None,
            code if isinstance(code, str) else None,
        )
    }


def _error(message: str, kind: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"message": message, "type": kind, "param": param, "code": code}
