"""Responses state as the router keeps it (pure): stored input items, stateless requests, pages.

The router owns the state of the Responses API. A request's ``input`` is kept as items with
ids (the shape ``GET /v1/responses/{id}/input_items`` lists); a follow-up turn by
``previous_response_id`` becomes one stateless request whose ``input`` is every earlier item
(inputs and outputs, reasoning included, which gpt-oss needs from earlier tool-call turns)
followed by the new ones, with ``store: false`` toward the backend. Shapes follow OpenAI's
API reference (responses/create, responses/object, responses/input-items).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from gptoss_router.errors import BadRequest

__all__ = [
    "answered_calls",
    "client_response",
    "item_page",
    "new_item_id",
    "page_query",
    "stateless_payload",
    "stored_items",
    "unique_ids",
    "without_reasoning",
]

# Id prefixes OpenAI gives items of each type.
_PREFIXES = {
    "message": "msg",
    "reasoning": "rs",
    "function_call": "fc",
    "function_call_output": "fco",
}
_STATUSED = frozenset({"message", "function_call", "function_call_output"})
_MAX_PAGE = 100
# Request fields that only the router acts on: never sent to a backend.
_STATEFUL = frozenset({"previous_response_id", "conversation", "background"})


def stored_items(value: Any, *, param: str = "input") -> list[dict[str, Any]]:
    """The request's ``input`` (or the items named ``param``) as items with ids: a string
    becomes one user message, message content given as a string becomes one text part."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise BadRequest(f"Invalid type for '{param}': expected a string or an array.", param=param)
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise BadRequest(
                f"Invalid '{param}[{index}]': expected an object.", param=f"{param}[{index}]"
            )
        item = dict(raw)
        kind = item.get("type")
        if kind is not None and not isinstance(kind, str):
            where = f"{param}[{index}].type"
            raise BadRequest(f"Invalid type for '{where}': expected a string.", param=where)
        if kind is None and "role" in item:
            kind = item["type"] = "message"
        if kind is None:
            where = f"{param}[{index}]"
            raise BadRequest(
                f"Invalid '{where}': expected an item with a 'type', or a message with a 'role'.",
                param=where,
            )
        if kind == "message":
            _check_message(item, f"{param}[{index}]")
        if kind == "message" and isinstance(item.get("content"), str):
            item["content"] = [_text_part(item.get("role"), item["content"])]
        if not isinstance(item.get("id"), str) or not item["id"]:
            item["id"] = new_item_id(kind)
        if kind in _STATUSED and item.get("status") is None:
            item["status"] = "completed"
        out.append(item)
    return out


def new_item_id(kind: object) -> str:
    """A new id for an item of type ``kind``, with the prefix OpenAI gives that type."""
    return f"{_PREFIXES.get(str(kind), 'item')}_{uuid.uuid4().hex}"


def unique_ids(
    items: Sequence[Mapping[str, Any]], earlier: Sequence[Mapping[str, Any]] = (), *, param: str
) -> None:
    """Refuse ``items`` (400, as OpenAI does) when one has the id of another, or of one of
    the ``earlier`` items they join (a conversation's, a previous response's): two items of
    one id make a history that paging by id and deleting by id cannot tell apart."""
    seen = {item.get("id") for item in earlier}
    for item in items:
        item_id = item.get("id")
        if item_id in seen:
            raise BadRequest(
                f"Duplicate item found with id {item_id}. Remove duplicate items from your "
                "input and try again.",
                param=param,
            )
        seen.add(item_id)


def answered_calls(
    items: Sequence[Mapping[str, Any]], earlier: Sequence[Mapping[str, Any]] = (), *, param: str
) -> None:
    """Refuse ``items`` (400, in OpenAI's words) when a ``function_call_output`` answers a call
    that neither they nor the ``earlier`` items hold: the backend could not tell which tool
    answered (vLLM renders a tool's answer under the call's name and refuses one it cannot
    find, "No call message found": ``parse_response_input``), and kept in a conversation the
    stray output would be sent again with every later turn."""
    calls = {
        call
        for item in (*earlier, *items)
        if item.get("type") == "function_call" and isinstance(call := item.get("call_id"), str)
    }
    for item in items:
        call = item.get("call_id")  # one of another type is the shape checks' to refuse
        if item.get("type") != "function_call_output" or not isinstance(call, str):
            continue
        if call not in calls:
            raise BadRequest(
                f"No tool call found for function call output with call_id {call}.",
                param=param,
            )


_ROLES = ("assistant", "developer", "system", "user")


def _check_message(item: Mapping[str, Any], where: str) -> None:
    """A message item's role and the shape of its content, as OpenAI checks them (400)."""
    role = item.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise BadRequest(
            f"Invalid value for '{where}.role': expected one of {', '.join(_ROLES)}.",
            param=f"{where}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise BadRequest(
            f"Invalid type for '{where}.content': expected a string or an array.",
            param=f"{where}.content",
        )
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            at = f"{where}.content[{index}]"
            raise BadRequest(
                f"Invalid value for '{at}': expected an object with a string 'type'.", param=at
            )


def _text_part(role: object, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def stateless_payload(
    payload: Mapping[str, Any], history: list[dict[str, Any]], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The request as any backend can serve it: earlier items first, nothing kept there."""
    out = {k: v for k, v in payload.items() if k not in _STATEFUL}
    out["input"] = [*history, *items]
    out["store"] = False
    return out


def client_response(
    response: dict[str, Any],
    *,
    response_id: str,
    model: str,
    store: bool,
    previous_id: str | None,
) -> dict[str, Any]:
    """``response`` (a backend's, or a translation's) as the router's own, in place."""
    response["id"] = response_id
    response["model"] = model
    response["store"] = store
    response["previous_response_id"] = previous_id
    return response


def without_reasoning(response: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``response`` without reasoning items, for apps that must not see them."""
    output = response.get("output")
    if not isinstance(output, list):
        return response
    kept = [i for i in output if not (isinstance(i, dict) and i.get("type") == "reasoning")]
    return {**response, "output": kept}


def page_query(query: Mapping[str, str]) -> tuple[int, str, str | None]:
    """``limit`` (1-100, default 20), ``order`` (``asc`` or ``desc``, the default) and
    ``after`` from a list request's query string."""
    raw = query.get("limit", "20")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= _MAX_PAGE:
        raise BadRequest(
            f"Invalid 'limit': expected an integer from 1 to {_MAX_PAGE}.", param="limit"
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    return int(raw), order, query.get("after")


def item_page(
    items: list[dict[str, Any]],
    *,
    limit: int,
    order: str,
    after: str | None,
    within: str = "this response",
) -> dict[str, Any]:
    """One page of ``items`` in OpenAI's list shape (``first_id``, ``last_id``, ``has_more``);
    ``within`` names where an unknown ``after`` was looked for."""
    ordered = items[::-1] if order == "desc" else items
    start = 0
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise BadRequest(f"No item with id '{after}' in {within}.", param="after")
        start = ids.index(after) + 1
    data = ordered[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0].get("id") if data else None,
        "last_id": data[-1].get("id") if data else None,
        "has_more": start + limit < len(ordered),
    }
