"""Stored conversations: one document per conversation, in the shared store, scoped to the app.

A conversation is one JSON document under ``conv:<app>:<conversation id>``:

    {"conversation": {"id", "object": "conversation", "created_at", "metadata"}, "items": [...]}

``items`` holds every item of the conversation in order, as the Conversations API lists them
(reasoning included, even for apps that are not shown reasoning: gpt-oss needs its own chain
of thought from earlier tool-call turns). Every write keeps the document for another
``tuning.responses_ttl_s``, and a document is bounded by ``tuning.responses_max_bytes``, as
stored responses are. Another app's id is simply a key that does not exist.

A change reads the document, changes it and writes it back only if nobody wrote it meanwhile
(a compare-and-set on the document's version, one Lua script in Redis); otherwise it reads
again and redoes the change; after many lost rounds in a row a change is refused with 409 and
Retry-After rather than retried for ever. Turns of one conversation do not race: each holds the
conversation's lock (``turn_locks``) from before it reads the items until its answer ends.

Reads, deletes and the store's failures are handled as for stored responses
(``app_documents``): while the store is down conversation calls are refused at once.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gptoss_router import codec
from gptoss_router.errors import BadRequest, ConversationLocked, StoreUnavailable
from gptoss_router.state.app_documents import AppDocuments, valid_id
from gptoss_router.state.optimistic import ATTEMPTS, change_document, pause
from gptoss_router.state.store import ABSENT, StoreFailed, Versioned
from gptoss_router.state.turn_locks import LOCK_TTL_S, TurnLock

__all__ = ["Conversation", "ConversationRecords"]

_EDIT = "edit_"  # the owner of a lock taken for a change of items, not a turn (a response id)

T = TypeVar("T")


@dataclass(slots=True)
class Conversation:
    """One stored conversation: its object (id, created_at, metadata) and its items."""

    meta: dict[str, Any]
    items: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.meta.get("id"))

    def encode(self) -> bytes:
        """The conversation as stored."""
        doc = {"conversation": self.meta, "items": self.items}
        return codec.dumps(doc)

    @classmethod
    def decode(cls, data: bytes) -> Conversation:
        """A stored conversation (``ValueError`` if it is not one)."""
        doc = codec.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("conversation"), dict):
            raise ValueError("not a stored conversation")
        items = doc.get("items")
        return cls(doc["conversation"], list(items) if isinstance(items, list) else [])


class ConversationRecords(AppDocuments[Conversation]):
    """Reads and writes conversations through the shared store."""

    prefix = "conv"
    noun = "conversation"
    decode = staticmethod(Conversation.decode)

    async def create(self, app: str, conversation: Conversation) -> None:
        """Keep a new ``conversation`` for ``app`` (a 400 naming the setting past the bound)."""
        self.check_usable()
        data = self._bounded(conversation.encode())
        key = self._key(app, conversation.id)
        if await self._call(self._store.put_document(key, data, self.ttl_s, expected=ABSENT)):
            return
        raise self._busy(conversation.id)  # a fresh random id that exists: never in practice

    async def update(
        self,
        app: str,
        conversation_id: str,
        change: Callable[[Conversation], T],
        *,
        bounded: bool = True,
        known: Versioned[Conversation] | None = None,
    ) -> tuple[Conversation, T] | None:
        """Apply ``change`` to the stored conversation and keep it another ``ttl_s``, redoing
        the change on a fresh read whenever another writer got there first. The conversation
        as written and what ``change`` returned, or None when there is no such conversation.
        ``bounded``: a 400 naming the setting when the result is over ``max_bytes``;
        ``known``: the conversation as read earlier (a turn's, read when it began), changed
        and written first without reading it again."""
        key = self._key(app, conversation_id)

        async def write(conversation: Conversation, version: int) -> bool:
            data = conversation.encode()
            if bounded:
                self._bounded(data)
            return await self._put_at(key, data, version)

        return await change_document(
            lambda: self._read(app, conversation_id),
            write,
            lambda conversation: (conversation, change(conversation)),
            busy=lambda: self._busy(conversation_id),
            known=known,
        )

    async def read(self, app: str, conversation_id: str) -> Versioned[Conversation] | None:
        """The conversation ``conversation_id`` of ``app`` with its size and version, or
        None."""
        return await self._read(app, conversation_id)

    async def lock(
        self, app: str, conversation_id: str, owner: str
    ) -> tuple[TurnLock, Versioned[Conversation]] | None:
        """The lock of ``conversation_id`` for the turn ``owner`` (a response id), and the
        conversation as read once the lock was taken (in the same round trip); None when
        there is no such conversation (nothing locked); ``ConversationLocked`` while another
        turn holds it."""
        self.check_usable()
        if not valid_id(conversation_id):
            return None
        key = self._lock_key(app, conversation_id)
        value = owner.encode()

        async def put(expected: int, ttl_s: float) -> int | None:
            return await self._call(self._store.put_document(key, value, ttl_s, expected=expected))

        async def drop(expected: int) -> bool:
            return await self._call(self._store.delete_document(key, expected=expected))

        async def ours() -> int | None:
            found = await self._call(self._store.get_document(key))
            return found.version if found is not None and found.value == value else None

        sent = time.monotonic()
        taken = self._store.put_then_get(
            key, value, LOCK_TTL_S, expected=ABSENT, then=self._key(app, conversation_id)
        )
        try:
            version, found = await self._call(taken)
        except StoreUnavailable:
            await self._unless_answered(key, value)
            raise
        if version is None:
            raise ConversationLocked()
        lock = TurnLock(put, drop, ours, version, f"conversation {conversation_id}", taken_at=sent)
        conversation = self._decoded(found)
        if conversation is None:  # nothing to guard
            await lock.release()
            return None
        return lock, conversation

    async def _unless_answered(self, key: str, owner: bytes) -> None:
        """A lock whose taking got no answer may have been taken all the same (the answer was
        lost, not the write): give it back if it is this turn's, or leave it to expire."""
        with contextlib.suppress(StoreFailed):
            found = await self._store.get_document(key)
            if found is not None and found.value == owner:
                await self._store.delete_document(key, expected=found.version)

    async def edit_lock(
        self, app: str, conversation_id: str
    ) -> tuple[TurnLock, Versioned[Conversation]] | None:
        """The lock of ``conversation_id`` for a change of its items, and the conversation as
        read once it was taken (as ``lock``): ``ConversationLocked`` while a turn holds it (its
        items must not change under it); another change holding it is waited for, as it holds
        it for two round trips only."""
        owner = f"{_EDIT}{uuid.uuid4().hex}"
        for attempt in range(ATTEMPTS):
            if attempt:
                await pause(attempt)
            try:
                return await self.lock(app, conversation_id, owner)
            except ConversationLocked:
                key = self._lock_key(app, conversation_id)
                holder = await self._call(self._store.get_document(key))
                if holder is not None and not holder.value.startswith(_EDIT.encode()):
                    raise  # a turn runs
        raise ConversationLocked()

    def _lock_key(self, app: str, conversation_id: str) -> str:
        return f"{self.prefix}-lock:{app}:{conversation_id}"

    def _bounded(self, data: bytes) -> bytes:
        if len(data) > self.max_bytes:
            raise BadRequest(
                f"This conversation would be about {len(data)} bytes, over the router's limit "
                f"of {self.max_bytes} bytes (tuning.responses_max_bytes). Start a new "
                "conversation, or delete some of its items.",
                param="items",
            )
        return data
