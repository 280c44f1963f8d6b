"""The OpenAPI document of what the router serves (served at ``/openapi.json``).

Request and response bodies are OpenAI's (``openapi.yaml`` of openai/openai-openapi); this document
names the routes, the router's own headers and the error envelope, and points there.
"""

from __future__ import annotations

from typing import Any

from gptoss_router import __version__
from gptoss_router.openai.inbound import REASONING_EFFORTS

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_HEADERS = [
    {
        "name": "x-gptoss-route",
        "in": "header",
        "schema": {"type": "string", "enum": ["local", "hosted"]},
        "description": "Only local pods, or only hosted providers (within what the app may do).",
    },
    {
        "name": "x-gptoss-max-price",
        "in": "header",
        "schema": {"type": "string", "example": "0.15/0.60"},
        "description": "Price cap in dollars per million tokens: '<output>' or '<input>/<output>'.",
    },
]


def _request(
    required: str, kinds: list[str], tokens: list[str], models: list[str]
) -> dict[str, Any]:
    """What the router itself checks of a body; the rest is OpenAI's and passes through."""
    properties: dict[str, Any] = {
        "model": {"type": "string", "minLength": 1, "examples": models},
        required: {"type": kinds if len(kinds) > 1 else kinds[0]},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {"type": ["object", "null"]},
        **{name: {"type": ["integer", "null"], "minimum": 1} for name in tokens},
    }
    if required != "input":
        properties["reasoning_effort"] = {"enum": [*sorted(REASONING_EFFORTS), None]}
    return {"type": "object", "required": ["model", required], "properties": properties}


def _generate(summary: str, reference: str, body: dict[str, Any]) -> dict[str, Any]:
    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "Invalid request; `param` names the parameter"),
            (401, "Missing or unknown app key"),
            (403, "The app may not use this route or override"),
            (404, "Unknown model"),
            (429, "Every candidate is rate limited; Retry-After says when to come back"),
            (502, "Every candidate failed"),
            (408, "The request body arrived too slowly"),
            (413, "The request body is too large"),
            (
                503,
                "No backend can serve the request, or none came within the hold time; "
                "Retry-After says when to come back",
            ),
            (504, "Every candidate timed out"),
        )
    }
    return {
        "post": {
            "summary": summary,
            "description": f"Body and answer as OpenAI's `{reference}`; `stream: true` answers "
            "with server-sent events. Streams that break mid-way end with an error event.",
            "security": [{"appKey": []}],
            "parameters": _HEADERS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": {
                    "description": "The answer, from a local pod or a provider "
                    "(named in x-gptoss-backend)",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **errors,
            },
        }
    }


def _get(summary: str, media: str = "application/json") -> dict[str, Any]:
    schema = {"type": "object" if "json" in media else "string"}
    ok = {"description": summary, "content": {media: {"schema": schema}}}
    return {"get": {"summary": summary, "responses": {"200": ok}}}


_STATE_ERRORS = (
    (400, "Invalid request; `param` names the parameter"),
    (401, "Missing or unknown app key"),
    (404, "No such object for this app"),
    (503, "The state store is unreachable; Retry-After says when to come back"),
)


def _stateful(method: str, summary: str, *, body: bool = False) -> dict[str, Any]:
    """An operation on state the router keeps (stored responses, conversations)."""
    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in _STATE_ERRORS
    }
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"appKey": []}],
        "responses": {
            "200": {
                "description": "As OpenAI answers it",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **errors,
        },
    }
    if body:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return {method: operation}


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _with_ids(names: list[str], *operations: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {"parameters": [_id(n) for n in names]}
    for operation in operations:
        merged.update(operation)
    return merged


def openapi_document(models: list[str]) -> dict[str, Any]:
    """The document for a router serving ``models``, built fresh (it is small)."""
    chat = _request("messages", ["array"], ["max_completion_tokens", "max_tokens"], models)
    completion = _request("prompt", ["string", "array"], ["max_tokens"], models)
    response = _request("input", ["string", "array"], ["max_output_tokens"], models)
    return {
        "openapi": "3.1.0",
        "info": {"title": "gptoss router", "version": __version__},
        "paths": {
            "/v1/chat/completions": _generate(
                "Create a chat completion", "POST /chat/completions", chat
            ),
            "/v1/completions": _generate("Create a completion", "POST /completions", completion),
            "/v1/responses": _generate("Create a model response", "POST /responses", response),
            "/v1/models": _get("List the models served"),
            "/v1/models/{model}": _with_ids(["model"], _stateful("get", "One model served")),
            "/v1/responses/{response_id}": _with_ids(
                ["response_id"],
                _stateful("get", "A stored response (stream=true: a background response's events)"),
                _stateful("delete", "Delete a stored response"),
            ),
            "/v1/responses/{response_id}/input_items": _with_ids(
                ["response_id"], _stateful("get", "A stored response's input items")
            ),
            "/v1/responses/{response_id}/cancel": _with_ids(
                ["response_id"], _stateful("post", "Cancel a background response")
            ),
            "/v1/conversations": _stateful("post", "Create a conversation", body=True),
            "/v1/conversations/{conversation_id}": _with_ids(
                ["conversation_id"],
                _stateful("get", "A conversation"),
                _stateful("post", "Update a conversation's metadata", body=True),
                _stateful("delete", "Delete a conversation"),
            ),
            "/v1/conversations/{conversation_id}/items": _with_ids(
                ["conversation_id"],
                _stateful("get", "A conversation's items"),
                _stateful("post", "Add items to a conversation", body=True),
            ),
            "/v1/conversations/{conversation_id}/items/{item_id}": _with_ids(
                ["conversation_id", "item_id"],
                _stateful("get", "One item of a conversation"),
                _stateful("delete", "Delete an item of a conversation"),
            ),
            "/healthz": _get("Liveness: the process answers"),
            "/readyz": _get("Readiness: configuration loaded and the upstream client open"),
            "/metrics": _get("Prometheus metrics", "text/plain"),
            "/spill": _get("Demand per model served by providers or held right now"),
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"appKey": {"type": "http", "scheme": "bearer"}},
        },
    }
