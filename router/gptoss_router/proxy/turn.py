"""One Responses turn as the router runs it: the stateless request, what it keeps, its lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_router.openai.inbound import Inbound
from gptoss_router.openai.responses_state import client_response
from gptoss_router.proxy.chat_form import ChatForm
from gptoss_router.state.turn_locks import TurnLock

__all__ = ["Turn", "own"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One Responses request, made stateless, and what the router keeps of it."""

    app: str
    response_id: str
    store: bool
    previous_id: str | None
    prior: list[dict[str, Any]]  # the earlier turns' items it was rehydrated with
    items: list[dict[str, Any]]  # its own input items
    native: Inbound  # the stateless Responses request (store: false)
    native_body: bytes
    chat: ChatForm | None  # the same through Chat Completions, when it can be translated
    echo: dict[str, Any]  # what a translated response repeats of the request
    created_at: int
    background: bool = False  # the router runs it after answering "queued"
    conversation: str | None = None  # the conversation it continues and is appended to
    lock: TurnLock | None = None  # its conversation's, held until its answer ends (``unlock``)
    # its conversation's object and version when its items were read: the append is tried at
    # that version first (the lock keeps other turns' items out meanwhile)
    conversation_seen: tuple[dict[str, Any], int] | None = None

    async def unlock(self) -> None:
        """Give back the conversation's lock, if it holds one (once its answer has ended)."""
        if self.lock is not None:
            await self.lock.release()


def own(turn: Turn, response: dict[str, Any]) -> dict[str, Any]:
    """``response`` made the router's own for ``turn`` (its id, model, ``store``, links), in
    place."""
    client_response(
        response,
        response_id=turn.response_id,
        model=turn.native.model,
        store=turn.store,
        previous_id=turn.previous_id,
    )
    response["background"] = turn.background
    # The request's own: a backend may have been sent them another way (outbound.py), or not
    # at all (metadata is the client's, for the client).
    response["instructions"] = turn.echo.get("instructions")
    response["metadata"] = turn.echo.get("metadata") or {}
    # What the request set and the backend did not repeat (a backend that echoes no sampling
    # parameters): as the request set it. What it repeats is what it ran with.
    for name, value in turn.echo.items():
        if response.get(name) is None and value is not None:
            response[name] = value
    if turn.conversation is not None:
        response["conversation"] = {"id": turn.conversation}
    return response
