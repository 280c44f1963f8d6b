"""Check the tool calls in an answer against the functions the request offered (pure).

A call is valid when it names a function of the request's ``tools`` and its arguments are JSON
that the function's ``parameters`` schema accepts. The verdict is one of ``VERDICTS``:
``valid``, ``invalid_json``, ``unknown_function`` or ``schema``. A schema the router cannot
check (not a schema; a ``$ref`` that resolves nowhere in it, remote ones included, which are
never fetched; references that loop without end) checks nothing: the call passes unchecked.

Whole answers are read by ``calls_in_document``; streams by ``StreamCalls``, which gathers each
call's arguments as they pass and hands the call over once they are complete (a Responses
``response.output_item.done``, or the end of a Chat Completions stream), never holding a chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable

from gptoss_router.openai.inbound import Route

__all__ = ["VERDICTS", "StreamCalls", "ToolCall", "Tools", "Verdict", "calls_in_document"]

Verdict = Literal["valid", "invalid_json", "unknown_function", "schema"]
VERDICTS: tuple[Verdict, ...] = ("valid", "invalid_json", "unknown_function", "schema")
# Where a schema's references are looked up: the JSON Schema metaschemas and the schema itself,
# never a URL (jsonschema's default registry would fetch remote, even file://, references).
_OFFLINE: Registry[Any] = Registry()
# What validating against a schema the router cannot check raises.
_UNCHECKABLE = (Unresolvable, RecursionError)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call an answer made."""

    name: str
    arguments: str


class Tools:
    """The functions a request offered, by name, with a validator per parameters schema."""

    __slots__ = ("_validators",)

    def __init__(self, validators: dict[str, Draft202012Validator | None]) -> None:
        self._validators = validators

    @classmethod
    def of(cls, route: Route, payload: Mapping[str, Any]) -> Tools | None:
        """The functions in ``payload`` (a ``route`` request); None when it offers none."""
        tools = payload.get("tools")
        if not isinstance(tools, list) or route == "completions":
            return None
        validators: dict[str, Draft202012Validator | None] = {}
        for tool in tools:
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                continue
            spec = tool.get("function") if route == "chat" else tool
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                continue
            validators[spec["name"]] = _validator(spec.get("parameters"))
        return cls(validators) if validators else None

    def check(self, call: ToolCall) -> Verdict:
        """Whether ``call`` names one of these functions with arguments its schema accepts."""
        if call.name not in self._validators:
            return "unknown_function"
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except (ValueError, RecursionError):
            return "invalid_json"
        validator = self._validators[call.name]
        if validator is None:
            return "valid"
        try:
            accepted = validator.is_valid(arguments)
        except _UNCHECKABLE:
            self._validators[call.name] = None  # not checkable: this call and the next pass
            return "valid"
        return "valid" if accepted else "schema"


def _validator(schema: object) -> Draft202012Validator | None:
    """A validator for a function's parameters; None (anything goes) if there is no usable
    schema: a schema the backend could not have followed is not the backend's fault."""
    if not isinstance(schema, dict):
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return Draft202012Validator(schema, registry=_OFFLINE)


def calls_in_document(route: Route, doc: Mapping[str, Any]) -> list[ToolCall]:
    """The function calls in a whole Chat Completions answer or Responses object."""
    if route == "responses":
        return [c for item in _list(doc.get("output")) if (c := _item_call(item)) is not None]
    calls: list[ToolCall] = []
    for choice in _list(doc.get("choices")):
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            for call in _list(message.get("tool_calls")):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    calls.append(_call(function.get("name"), function.get("arguments")))
    return calls


@dataclass(slots=True)
class _Partial:
    name: str = ""
    pieces: list[str] = field(default_factory=list)


class StreamCalls:
    """Gathers the function calls of one stream from its parsed chunks or events."""

    __slots__ = ("_open", "_route")

    def __init__(self, route: Route) -> None:
        self._route = route
        self._open: dict[tuple[int, int], _Partial] = {}

    def feed(self, doc: Mapping[str, Any]) -> list[ToolCall]:
        """Calls whose arguments ``doc`` completes (Responses); Chat Completions calls are
        complete only when the stream ends (``finish``)."""
        if self._route == "responses":
            if doc.get("type") != "response.output_item.done":
                return []
            call = _item_call(doc.get("item"))
            return [call] if call is not None else []
        for choice in _list(doc.get("choices")):
            if not isinstance(choice, dict) or not isinstance(choice.get("delta"), dict):
                continue
            at = choice.get("index")
            for delta in _list(choice["delta"].get("tool_calls")):
                if isinstance(delta, dict):
                    self._gather(at if isinstance(at, int) else 0, delta)
        return []

    def _gather(self, choice: int, delta: dict[str, Any]) -> None:
        index = delta.get("index")
        at = (choice, index if isinstance(index, int) else 0)
        partial = self._open.setdefault(at, _Partial())
        function = delta.get("function")
        if not isinstance(function, dict):
            return
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and not partial.name:
            partial.name = name
        if isinstance(arguments, str):
            partial.pieces.append(arguments)

    def finish(self) -> list[ToolCall]:
        """The calls still gathering when the stream ended, now complete."""
        done = [ToolCall(p.name, "".join(p.pieces)) for _, p in sorted(self._open.items())]
        self._open = {}
        return done


def _item_call(item: object) -> ToolCall | None:
    if not isinstance(item, dict) or item.get("type") != "function_call":
        return None
    return _call(item.get("name"), item.get("arguments"))


def _call(name: object, arguments: object) -> ToolCall:
    return ToolCall(
        name if isinstance(name, str) else "",
        arguments if isinstance(arguments, str) else json.dumps(arguments),
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
