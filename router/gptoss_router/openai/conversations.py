"""The Conversations API as the router keeps it (pure): objects, items, parameters.

Shapes follow OpenAI's API reference (conversations/create, conversations/object,
conversations/items) and the official SDK's ``openai.types.conversations``: a conversation is
``{"id": "conv_…", "object": "conversation", "created_at", "metadata"}``, its items are the
Responses API's items with ids (messages, function calls and their outputs, reasoning), at most
20 added per call. A Responses request names a conversation with ``conversation`` (an id, or
``{"id": …}``); its input items and its output items are then appended to the conversation.
"""

from __future__ import annotations

import secrets
from typing import Any

from gptoss_router.errors import BadRequest, NotFound
from gptoss_router.openai.responses_state import new_item_id, stored_items, unique_ids

__all__ = [
    "MAX_ITEMS",
    "add_items",
    "conversation_id_of",
    "conversation_object",
    "deleted_object",
    "distinct_ids",
    "find_item",
    "item_list",
    "metadata_of",
    "new_conversation_id",
    "new_items",
    "no_conversation",
    "no_item",
    "turn_items",
    "visible",
]

MAX_ITEMS = 20  # items added per call, as OpenAI allows
_MAX_KEYS, _MAX_KEY, _MAX_VALUE = 16, 64, 512
# A response whose items join its conversation; a failed or cancelled one adds nothing.
_APPENDED = frozenset({"completed", "incomplete"})


def new_conversation_id() -> str:
    """A fresh conversation id in OpenAI's shape (``conv_`` and 48 hex digits)."""
    return f"conv_{secrets.token_hex(24)}"


def conversation_object(
    conversation_id: str, created_at: int, metadata: dict[str, str]
) -> dict[str, Any]:
    """The conversation object as the API answers it."""
    return {
        "id": conversation_id,
        "object": "conversation",
        "created_at": created_at,
        "metadata": metadata,
    }


def deleted_object(conversation_id: str) -> dict[str, Any]:
    """The answer to deleting a conversation."""
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


def metadata_of(value: Any) -> dict[str, str]:
    """``metadata`` checked as OpenAI checks it: up to 16 string keys of at most 64 characters,
    string values of at most 512; None is no metadata."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Invalid type for 'metadata': expected an object.", param="metadata")
    if len(value) > _MAX_KEYS:
        raise BadRequest(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{_MAX_KEYS} properties, but got {len(value)} instead.",
            param="metadata",
        )
    for key, item in value.items():
        if len(key) > _MAX_KEY:
            raise BadRequest(
                f"Invalid 'metadata': key '{key[:_MAX_KEY]}…' is longer than {_MAX_KEY} "
                "characters.",
                param="metadata",
            )
        if not isinstance(item, str) or len(item) > _MAX_VALUE:
            raise BadRequest(
                f"Invalid 'metadata.{key}': expected a string of at most {_MAX_VALUE} characters.",
                param=f"metadata.{key}",
            )
    return dict(value)


def new_items(value: Any, *, required: bool) -> list[dict[str, Any]]:
    """The ``items`` of a create call as stored items (ids given to those without)."""
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise BadRequest("Invalid type for 'items': expected an array.", param="items")
    if required and not value:
        raise BadRequest(
            "Invalid 'items': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            param="items",
        )
    if len(value) > MAX_ITEMS:
        raise BadRequest(
            f"Invalid 'items': array too long. Expected an array with maximum length "
            f"{MAX_ITEMS}, but got an array with length {len(value)} instead.",
            param="items",
        )
    items = stored_items(value, param="items")
    unique_ids(items, param="items")
    return items


def conversation_id_of(value: Any) -> str | None:
    """The conversation a Responses request names (an id, or ``{"id": …}``), or None."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise BadRequest(
            "Invalid 'conversation': expected a conversation id or an object with an 'id'.",
            param="conversation",
        )
    return value


def turn_items(input_items: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """What one response adds to its conversation: its input items, then its output items
    (reasoning included); nothing when it did not complete."""
    status = response.get("status")
    if not isinstance(status, str) or status not in _APPENDED:
        return []
    output = response.get("output")
    outputs = [i for i in output if isinstance(i, dict)] if isinstance(output, list) else []
    return [*input_items, *outputs]


def distinct_ids(added: list[dict[str, Any]], held: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn's ``added`` items as they join a conversation's ``held`` ones: an item with no
    id, or with the id of an item held or added before it, gets a new one. A client's items
    were refused for that already (``unique_ids``); a backend's output items are not checked
    by anyone else, and a backend that reuses ids or gives none would leave items that paging
    by id (``after``) could loop on and deleting by id could not tell apart."""
    seen = {item.get("id") for item in held}
    out: list[dict[str, Any]] = []
    for item in added:
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id or item_id in seen:
            item = {**item, "id": new_item_id(item.get("type"))}
        seen.add(item["id"])
        out.append(item)
    return out


def visible(items: list[dict[str, Any]], *, strip_reasoning: bool) -> list[dict[str, Any]]:
    """The items an app is shown: without reasoning for apps that must not see it."""
    if not strip_reasoning:
        return items
    return [i for i in items if i.get("type") != "reasoning"]


def add_items(items: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    """Append ``added`` to a conversation's ``items``; 400 if one has the id of an item it
    already holds."""
    unique_ids(added, items, param="items")
    items.extend(added)


def find_item(items: list[dict[str, Any]], item_id: str) -> int | None:
    """The index of the item ``item_id``, or None."""
    return next((n for n, item in enumerate(items) if item.get("id") == item_id), None)


def item_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Items just added, in the list shape the items-create call answers with."""
    return {
        "object": "list",
        "data": items,
        "first_id": items[0].get("id") if items else None,
        "last_id": items[-1].get("id") if items else None,
        "has_more": False,
    }


def no_conversation(conversation_id: str, *, param: str | None = None) -> NotFound:
    """The 404 for a conversation this app does not have."""
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param=param)


def no_item(item_id: str) -> NotFound:
    """The 404 for an item the conversation does not have."""
    return NotFound(f"Item with id '{item_id}' not found.")
