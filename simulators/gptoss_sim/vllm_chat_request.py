"""The ``/v1/chat/completions`` body vLLM accepts for gpt-oss, and the tool choice it asks for.

Followed from vLLM 0.17.0 and 0.32.0 ``vllm/entrypoints/openai/chat_completion/protocol.py``
(``ChatCompletionRequest``, the same checks in both releases): the body's field types and the
validators that run before the request is served. A refusal is vLLM's 400 (``invalid_body``,
``literal_error``, ``value_error`` from ``gptoss_sim.vllm_protocol``) with vLLM's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptoss_sim.request_shapes import check_chat_shapes
from gptoss_sim.vllm_protocol import invalid_body, literal_error, value_error
from gptoss_sim.vllm_request_fields import check_chat_fields

EFFORTS = ("low", "medium", "high")


def check_body(body: Mapping[str, Any]) -> None:
    """``ChatCompletionRequest``'s pydantic checks and ``mode="before"`` validators.

    Field types (``messages`` required, ``reasoning_effort`` a literal) and the validators
    ``validate_response_format``, ``validate_stream_options`` and ``check_tool_usage``
    (vllm/entrypoints/openai/chat_completion/protocol.py, same text in both releases).
    """
    if "messages" not in body:
        raise invalid_body("Field required", loc=("body", "messages"), kind="missing")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise literal_error("reasoning_effort", EFFORTS, effort)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and not fmt.get("json_schema"):
        raise value_error(
            "When response_format type is 'json_schema', the 'json_schema' field must be provided.",
            param="response_format",
        )
    if body.get("stream_options") and not body.get("stream"):
        raise value_error(
            "Stream options can only be defined when `stream=True`.", param="stream_options"
        )
    check_chat_shapes(body)  # before the tool check reads the tools
    check_chat_fields(body)
    _check_tool_usage(body)


def _check_tool_usage(body: Mapping[str, Any]) -> None:
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        return
    tools = body.get("tools")
    if tools is None:
        raise value_error("When using `tool_choice`, `tools` must be set.")
    if choice not in ("auto", "required") and not isinstance(choice, dict):
        raise value_error(
            f'Invalid value for `tool_choice`: {choice}! Only named tools, "none", "auto" '
            'or "required" are supported.'
        )
    if not isinstance(choice, dict):
        return
    usage = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'
    function = choice.get("function")
    if not isinstance(function, dict):
        raise value_error(f"Invalid value for `function`: `{function}` in `tool_choice`! {usage}")
    if "name" not in function:
        raise value_error(f"Expected field `name` in `function` in `tool_choice`! {usage}")
    name = function["name"]
    if not isinstance(name, str) or not name:
        raise value_error(f"Invalid `name` in `function`: `{name}` in `tool_choice`! {usage}")
    if not any((t.get("function") or {}).get("name") == name for t in tools):
        raise value_error(
            "The tool specified in `tool_choice` does not match any of the specified `tools`"
        )


def tool_choice_of(body: Mapping[str, Any]) -> str:
    """``auto``, ``none``, ``required`` or ``named`` (vLLM defaults to ``auto`` with tools)."""
    choice = body.get("tool_choice")
    if choice is None:
        return "auto" if body.get("tools") else "none"
    if isinstance(choice, dict):
        return "named"
    if choice == "required" and not body.get("tools"):
        return "none"  # check_tool_usage: "required" with an empty list behaves like "none"
    return str(choice)
