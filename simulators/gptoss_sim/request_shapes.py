"""The shapes of a request's values, checked before anything reads them: what the request models
of an OpenAI-compatible server refuse with a 400 naming the field.

vLLM reads each body into its pydantic request model (``ChatCompletionRequest``,
``ResponsesRequest`` in ``vllm/entrypoints/openai/*/protocol.py``): a value of another JSON
type than the field's is a 400 before any handler runs; the hosted providers' APIs answer a 400
too (docs/sources.md, OpenAI API). A simulator that reached such a value with ``.get`` answered
a 500, which a router counts as a failing backend, not as the caller's mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptoss_sim.errors import SimError

__all__ = ["check_chat_shapes", "check_responses_shapes"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FORMATS = frozenset({"text", "json_object", "json_schema"})


def _one_of(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _refuse(where: str, expected: str) -> SimError:
    return SimError(400, f"Invalid type for '{where}': expected {expected}.", param=where)


def _object(value: Any, where: str, *, optional: bool = True) -> Mapping[str, Any]:
    """``value`` if it is an object (``{}`` for an optional null), else the 400."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _refuse(where, "an object")
    return value


def _string(value: Any, where: str, *, optional: bool = True) -> None:
    if not (isinstance(value, str) or (optional and value is None)):
        raise _refuse(where, "a string")


def _objects(value: Any, where: str) -> list[Mapping[str, Any]]:
    """``value`` if it is an array of objects (``[]`` for null), else the 400."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _refuse(where, "an array")
    return [_object(item, f"{where}[{i}]", optional=False) for i, item in enumerate(value)]


def _content(value: Any, where: str) -> None:
    """Message content: null, a string, or an array of parts that name their type."""
    if value is None or isinstance(value, str):
        return
    for i, part in enumerate(_objects(value, where)):
        _string(part.get("type"), f"{where}[{i}].type", optional=False)


def _tool_choice(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    choice = _object(value, "tool_choice")
    _string(choice.get("type"), "tool_choice.type")
    _string(_object(choice.get("function"), "tool_choice.function").get("name"), "tool_choice")


def check_chat_shapes(body: Mapping[str, Any]) -> None:
    """The 400 for a chat body whose messages, tools or format have another shape."""
    for i, message in enumerate(_objects(body.get("messages"), "messages")):
        where = f"messages[{i}]"
        role = message.get("role")
        if not _one_of(role, _ROLES):
            raise SimError(400, f"Invalid value for '{where}.role'.", param=f"{where}.role")
        _content(message.get("content"), f"{where}.content")
        _string(message.get("tool_call_id"), f"{where}.tool_call_id")
        for j, call in enumerate(_objects(message.get("tool_calls"), f"{where}.tool_calls")):
            at = f"{where}.tool_calls[{j}]"
            _string(call.get("id"), f"{at}.id")
            function = _object(call.get("function"), f"{at}.function", optional=False)
            _string(function.get("name"), f"{at}.function.name", optional=False)
            _string(function.get("arguments"), f"{at}.function.arguments", optional=False)
    for i, tool in enumerate(_objects(body.get("tools"), "tools")):
        _string(tool.get("type"), f"tools[{i}].type", optional=False)
        function = _object(tool.get("function"), f"tools[{i}].function", optional=False)
        _string(function.get("name"), f"tools[{i}].function.name", optional=False)
    _tool_choice(body.get("tool_choice"))
    fmt = _object(body.get("response_format"), "response_format")
    if fmt and not _one_of(fmt.get("type"), _FORMATS):
        raise SimError(400, "Invalid value for 'response_format.type'.", param="response_format")
    if fmt.get("type") == "json_schema":
        schema = _object(fmt.get("json_schema"), "response_format.json_schema", optional=False)
        _string(schema.get("name"), "response_format.json_schema.name", optional=False)
        _object(schema.get("schema"), "response_format.json_schema.schema")
    _object(body.get("stream_options"), "stream_options")


def check_responses_shapes(body: Mapping[str, Any]) -> None:
    """The 400 for a Responses body whose input items, tools, reasoning or text have another
    shape."""
    raw = body.get("input")
    for i, item in enumerate(_objects(raw, "input") if not isinstance(raw, str) else []):
        _string(item.get("type"), f"input[{i}].type")
        if item.get("type", "message") == "message":
            _string(item.get("role"), f"input[{i}].role", optional=False)
            _content(item.get("content"), f"input[{i}].content")
    for i, tool in enumerate(_objects(body.get("tools"), "tools")):
        _string(tool.get("type"), f"tools[{i}].type", optional=False)
    _tool_choice(body.get("tool_choice"))
    _string(body.get("instructions"), "instructions")
    _object(body.get("reasoning"), "reasoning")
    fmt = _object(_object(body.get("text"), "text").get("format"), "text.format")
    if fmt and not _one_of(fmt.get("type"), _FORMATS):
        raise SimError(400, "Invalid value for 'text.format.type'.", param="text.format")
    if fmt.get("type") == "json_schema":
        _string(fmt.get("name"), "text.format.name", optional=False)
        _object(fmt.get("schema"), "text.format.schema", optional=False)
