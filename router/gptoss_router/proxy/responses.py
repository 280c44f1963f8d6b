"""The Responses API on the request path: state in, the right wire out, state kept.

1. ``Turns.begin`` (``turns.py``) reads what the request needs from the store: a follow-up
   turn (``previous_response_id``, or ``conversation``) becomes one stateless request holding
   every earlier item, sent with ``store: false``, so any pod, replica or provider can serve
   it. The router picks the response id.
2. ``wire_for`` picks, per backend, its own ``/v1/responses`` when its dialect has every feature
   the request needs, else Chat Completions through the translation (``openai/responses_to_chat``
   and back); the plan already kept only backends that can do one or the other.
3. ``answer_document`` and ``answer_stream`` make the response the router's own (its id, the
   model the client named, ``store`` and ``previous_response_id`` as asked), keep it
   (``store: true``) before the client sees its end, and show it to the client, without
   reasoning for apps that must not see it. A response that cannot be kept is not reported
   as done: 503 for a whole answer, ``error`` and ``response.failed`` for a stream. A turn
   in a conversation appends its input and output items to it when it completes.

A background request (``background: true``) is kept as ``queued`` and run by the request path
after the answer (``background.py``); a response cancelled meanwhile is never overwritten
(``keep``).

While the store is known to be down, requests that read or keep state get 503 with Retry-After
at once; stateless ones (``store: false``, no ``previous_response_id`` and no
``conversation``) are still served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_router import codec
from gptoss_router.errors import Conflict, StoreUnavailable
from gptoss_router.openai.chat_to_responses import response_from_chat
from gptoss_router.openai.error_bodies import error_body
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.replies import Usage, usage_of
from gptoss_router.openai.responses_state import without_reasoning
from gptoss_router.proxy.tool_checks import ToolCheck
from gptoss_router.proxy.turns import Turn, Turns, own
from gptoss_router.routing.backends import Target

__all__ = ["Turn", "Turns", "Wire", "answer_document", "parsed", "terminal", "wire_for"]

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(frozen=True, slots=True)
class Wire:
    """How one attempt reaches its backend."""

    path: str
    body: bytes
    translated: bool


def wire_for(turn: Turn, target: Target, *, gather: bool = False) -> Wire | None:
    """Native Responses when ``target`` can serve them, else translated; None: neither.
    ``gather``: a whole answer asked for as a stream (``proxy/gather.py``)."""
    capabilities = target.dialect.capabilities
    kw: Any = {"model_id": target.model_id, "dialect": target.dialect, "gather": gather}
    if turn.native.features <= capabilities:
        return Wire("responses", outbound_body(turn.native, turn.native_body, **kw), False)
    if turn.chat is not None and turn.chat.features <= capabilities:
        translated = turn.chat.get()
        if translated is not None:
            return Wire("chat/completions", outbound_body(*translated, **kw), True)
    return None


async def answer_document(
    turns: Turns,
    turn: Turn,
    body: bytes,
    *,
    translated: bool,
    strip: bool,
    check: ToolCheck | None = None,
) -> tuple[int, bytes, Usage | None]:
    """Status, body and usage of a whole answer (503 if it should be kept and cannot be)."""
    try:
        doc = codec.loads(body)
    except (ValueError, RecursionError):
        return 200, body, None
    if not isinstance(doc, dict):
        return 200, body, None
    usage = usage_of(doc)
    response = (
        response_from_chat(doc, turn.echo, response_id=turn.response_id) if translated else doc
    )
    own(turn, response)
    if check is not None:
        check.document(response)
    try:
        await turns.keep(turn, response)
    except (StoreUnavailable, Conflict) as err:
        return err.status, _json(error_body(err)), usage
    return 200, _json(without_reasoning(response) if strip else response), usage


def terminal(kind: object) -> bool:
    """Whether an event of type ``kind`` ends a Responses stream."""
    return isinstance(kind, str) and kind in _TERMINAL


def parsed(data: bytes | None) -> dict[str, Any] | None:
    """The JSON object in an event's data; None for anything else."""
    if data is None:
        return None
    try:
        doc = codec.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _json(doc: Mapping[str, Any]) -> bytes:
    return codec.dumps(doc)
