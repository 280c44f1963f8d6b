"""Responses turns: a request made stateless from the store, and its response kept there.

``Turns.begin`` reads what a Responses request needs from the store: a follow-up turn
(``previous_response_id``, or ``conversation``) becomes one stateless request holding every
earlier item, sent with ``store: false``, so any pod, replica or provider can serve it, and the
router picks the response id. ``Turns.keep`` keeps the response (``store: true``) and appends a
conversation turn's input and output items to its conversation when it completes. A background
response cancelled meanwhile is never overwritten.

While the store is known to be down, requests that read or keep state get 503 with Retry-After
at once; stateless ones (``store: false``, no ``previous_response_id`` and no
``conversation``) are still served.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gptoss_router import codec
from gptoss_router.errors import (
    BadRequest,
    Conflict,
    PreviousResponseNotFound,
    StoreUnavailable,
)
from gptoss_router.openai.conversations import (
    conversation_id_of,
    distinct_ids,
    no_conversation,
    turn_items,
)
from gptoss_router.openai.inbound import Inbound, inbound_of
from gptoss_router.openai.responses_objects import (
    new_response_id,
    response_echo,
    response_object,
)
from gptoss_router.openai.responses_state import (
    answered_calls,
    stateless_payload,
    stored_items,
    unique_ids,
)
from gptoss_router.proxy.chat_form import ChatForm
from gptoss_router.proxy.finals import Finals
from gptoss_router.proxy.turn import Turn, own
from gptoss_router.state.conversations import Conversation, ConversationRecords
from gptoss_router.state.event_logs import EventLogs
from gptoss_router.state.responses import Record, ResponseRecords
from gptoss_router.state.store import Versioned

__all__ = ["Turn", "Turns", "own"]


class Turns:
    """Begins turns from the store and keeps their responses in it."""

    def __init__(
        self,
        records: ResponseRecords,
        conversations: ConversationRecords | None = None,
        finals: Finals | None = None,
        events: EventLogs | None = None,
    ) -> None:
        self.records = records
        self.conversations = conversations
        self.events = events  # of streamed background responses
        self.finals = finals if finals is not None else Finals()

    async def begin(self, app: str, inbound: Inbound, body: bytes) -> Turn:
        """The stateless form of ``inbound``; raises ``PreviousResponseNotFound``,
        ``NotFound`` (conversation), ``ConversationLocked`` (another turn of it runs),
        ``StoreUnavailable`` and ``BadRequest`` (a state over the size bound). A turn of a
        conversation holds its lock until ``Turn.unlock``."""
        payload = inbound.payload
        store = payload.get("store", True)
        if store is None:
            store = True
        if not isinstance(store, bool):
            raise BadRequest("Invalid type for 'store': expected a boolean.", param="store")
        previous = payload.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous):
            raise BadRequest(
                "Invalid 'previous_response_id': expected a response id.",
                param="previous_response_id",
            )
        background = payload.get("background") is True
        if background and not store:
            raise BadRequest("Background responses need store: true.", param="background")
        conversation = self._conversation_of(payload, previous)
        if store or previous:
            self.records.check_usable()
        response_id = new_response_id()
        lock = read = None
        if conversation is not None and self.conversations is not None:
            # taken before its items are read: no other turn appends to them meanwhile
            locked = await self.conversations.lock(app, conversation, response_id)
            if locked is None:
                raise no_conversation(conversation, param="conversation")
            lock, read = locked
        try:
            turn = await self._stateless(app, inbound, body, store, previous, conversation, read)
        except BaseException:
            if lock is not None:
                await lock.release()
            raise
        return replace(
            turn,
            response_id=response_id,
            store=store,
            background=background,
            conversation=conversation,
            lock=lock,
        )

    async def _stateless(
        self,
        app: str,
        inbound: Inbound,
        body: bytes,
        store: bool,
        previous: str | None,
        conversation: str | None,
        read: Versioned[Conversation] | None = None,
    ) -> Turn:
        """``inbound`` made one stateless request from what the store holds for it
        (``read``: its conversation, read as its lock was taken)."""
        payload = inbound.payload
        prior: list[dict[str, Any]] = []
        size = len(body)
        seen = None
        if conversation is not None:
            stored = read if read is not None else await self._conversation(app, conversation)
            prior, size = stored.value.items, size + stored.size
            seen = (stored.value.meta, stored.version)
        if previous:
            found = await self.records.get(app, previous)
            if found is None:
                raise PreviousResponseNotFound(previous)
            record, stored_size = found
            prior = record.history()
            size += stored_size
        if conversation is not None and self.conversations is not None:
            self._check_bound(size, self.conversations.max_bytes, "conversation")
        if store and size > self.records.max_bytes:
            raise BadRequest(
                f"This conversation's stored state would be about {size} bytes, over the "
                f"router's limit of {self.records.max_bytes} bytes "
                "(tuning.responses_max_bytes). Start a new conversation, or send it with "
                "store: false.",
                param="previous_response_id" if previous else "input",
            )
        items = stored_items(payload.get("input"))
        unique_ids(items, prior, param="input")
        answered_calls(items, prior, param="input")
        stateless = stateless_payload(payload, prior, items)
        native_body = _json(stateless)
        chat = ChatForm.of(stateless)
        native = replace(
            inbound_of("responses", stateless, len(native_body)),
            fallback_features=chat.features if chat is not None else None,
        )
        return Turn(
            app=app,
            response_id="",
            store=store,
            previous_id=previous,
            prior=prior,
            items=items,
            native=native,
            native_body=native_body,
            chat=chat,
            echo=response_echo(stateless),
            created_at=int(time.time()),
            conversation_seen=seen,
        )

    def _conversation_of(self, payload: Mapping[str, Any], previous: object) -> str | None:
        conversation = conversation_id_of(payload.get("conversation"))
        if conversation is not None and previous:
            raise BadRequest(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
            )
        return conversation

    async def _conversation(self, app: str, conversation: str) -> Versioned[Conversation]:
        """The stored ``conversation``, its size and version (a 404 when there is none)."""
        found = None
        if self.conversations is not None:
            found = await self.conversations.read(app, conversation)
        if found is None:
            raise no_conversation(conversation, param="conversation")
        return found

    @staticmethod
    def _check_bound(size: int, limit: int, param: str) -> None:
        if size > limit:
            raise BadRequest(
                f"This conversation's stored state would be about {size} bytes, over the "
                f"router's limit of {limit} bytes (tuning.responses_max_bytes). Start a new "
                "conversation.",
                param=param,
            )

    async def keep(self, turn: Turn, response: dict[str, Any]) -> bool:
        """Keep ``response`` when the request asked for it (``StoreUnavailable`` if it fails,
        ``Conflict`` if its conversation kept changing under other writers).

        A background response cancelled meanwhile stays cancelled. A response kept whose
        conversation could not take its items is rewritten as failed, as its client is told
        (``finals``: once the store answers again), so that it is not continued from. False
        when a cancel won (or the response was deleted): nothing was kept."""
        if turn.store and not await self._record(turn, response):
            return False
        try:
            await self._append(turn, response)
        except (StoreUnavailable, Conflict) as err:
            if turn.store:
                error = {"code": "server_error", "message": err.message}
                failed = {**response, "status": "failed", "error": error}
                what = f"failed response {turn.response_id}"
                self.finals.later(what, lambda: self._record(turn, failed))
            raise
        return True

    async def _record(self, turn: Turn, response: dict[str, Any]) -> bool:
        """Write ``response`` as ``turn``'s record; False when a cancel won meanwhile."""
        record = Record(turn.prior, turn.items, response)
        if turn.background and response.get("status") not in ("queued", "cancelled"):
            # Its record exists since it was queued; a cancel may have won meanwhile.
            def unless_cancelled(stored: Record) -> Record | None:
                return None if stored.response.get("status") == "cancelled" else record

            return (
                await self.records.update(turn.app, turn.response_id, unless_cancelled) is not None
            )
        await self.records.put(turn.app, record)
        return True

    async def _append(self, turn: Turn, response: dict[str, Any]) -> None:
        """Add a finished turn's items to its conversation (unless it was deleted meanwhile)."""
        if turn.conversation is None or self.conversations is None:
            return
        added = turn_items(turn.items, response)
        if not added:
            return
        known = None
        # as read when the turn began, copied; not a document of a router from before
        # versions (always version 0, so a write at 0 could undo that router's changes)
        if turn.conversation_seen is not None and turn.conversation_seen[1] > 0:
            meta, version = turn.conversation_seen
            known = Versioned(Conversation(dict(meta), list(turn.prior)), 0, version)
        # Bounded when the turn began: an answer already made is not thrown away.
        await self.conversations.update(
            turn.app,
            turn.conversation,
            lambda c: c.items.extend(distinct_ids(added, c.items)),
            bounded=False,
            known=known,
        )

    def status_of(
        self, turn: Turn, status: str, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The response of ``turn`` before it has output: queued, in progress or failed."""
        response = response_object(
            turn.echo,
            response_id=turn.response_id,
            created_at=turn.created_at,
            status=status,
            output=[],
            usage=None,
            error=error,
        )
        return own(turn, response)


def _json(doc: Mapping[str, Any]) -> bytes:
    return codec.dumps(doc)
