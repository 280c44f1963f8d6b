"""What a simulated server says when it refuses a request, and the envelope it says it in.

    Exception
    └── SimError             a refusal: HTTP status, message, OpenAI-style type/param/code,
                             extra response headers (``retry-after`` and the like)

Each simulator renders a ``SimError`` in its own envelope; the functions below are those
envelopes. Handlers raise ``SimError``; one place per app turns it into a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any


class SimError(Exception):
    """A request the simulated server refuses with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})


def vllm_error_type(status: int) -> str:
    """vLLM names the error type after the HTTP status, e.g. ``BadRequestError``.

    Source: docs/sources.md, OpenAI API (vLLM PR #22099).
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    name = "".join(word.capitalize() for word in phrase.replace("-", " ").split())
    return name if name.endswith("Error") else f"{name}Error"


def vllm_envelope(error: SimError) -> dict[str, Any]:
    """vLLM >= 0.10.1: nested ``error`` whose ``code`` is the integer HTTP status.

    Source: docs/sources.md, OpenAI API (vLLM PR #22099; before it the envelope was flat,
    vLLM #12886).
    """
    return {
        "error": {
            "message": error.message,
            "type": error.type or vllm_error_type(error.status),
            "param": error.param,
            "code": error.status,
        }
    }


def openai_envelope(error: SimError) -> dict[str, Any]:
    """OpenAI's ``ErrorResponse``: ``type``, ``message``, ``param``, ``code`` (string or null).

    Source: docs/sources.md, OpenAI API (openai/openai-openapi ``openapi.yaml`` @f85dbe2).
    """
    return {
        "error": {
            "message": error.message,
            "type": error.type or default_openai_type(error.status),
            "param": error.param,
            "code": error.code,
        }
    }


def default_openai_type(status: int) -> str:
    """The ``type`` OpenAI-style APIs use for a status when the refusal names none."""
    if status == 401:
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"
