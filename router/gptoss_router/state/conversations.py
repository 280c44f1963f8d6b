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
again and redoes the change. Two turns of one conversation finishing at the same moment both
land, in the order their writes won; after many lost rounds in a row a change is refused with
409 and Retry-After rather than retried for ever.

Failures of the store become ``StoreUnavailable`` (503, Retry-After) and are reported to the
store's health, so that while it is down conversation calls are refused at once.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gptoss_router import codec
from gptoss_router.errors import BadRequest, Conflict, StoreUnavailable
from gptoss_router.state.optimistic import change_document
from gptoss_router.state.store import ABSENT, Store, Versioned
from gptoss_router.state.store_health import StoreHealth

__all__ = ["Conversation", "ConversationRecords"]

T = TypeVar("T")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


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


class ConversationRecords:
    """Reads and writes conversations through the shared store."""

    def __init__(self, store: Store, health: StoreHealth, *, ttl_s: float, max_bytes: int) -> None:
        self._store = store
        self._health = health
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes

    def check_usable(self) -> None:
        """Refuse at once while the store is known to be down (no request waits for it)."""
        if not self._health.usable():
            raise _unavailable()

    async def get(self, app: str, conversation_id: str) -> tuple[Conversation, int] | None:
        """The conversation ``conversation_id`` of ``app`` and its size in bytes, or None."""
        found = await self._read(app, conversation_id)
        return None if found is None else (found.value, found.size)

    async def create(self, app: str, conversation: Conversation) -> None:
        """Keep a new ``conversation`` for ``app`` (a 400 naming the setting past the bound)."""
        self.check_usable()
        data = self._bounded(conversation.encode())
        key = _key(app, conversation.id)
        if await self._call(self._store.put_document(key, data, self.ttl_s, expected=ABSENT)):
            return
        raise _busy(conversation.id)  # a fresh random id that exists: never in practice

    async def update(
        self,
        app: str,
        conversation_id: str,
        change: Callable[[Conversation], T],
        *,
        bounded: bool = True,
    ) -> tuple[Conversation, T] | None:
        """Apply ``change`` to the stored conversation and keep it another ``ttl_s``, redoing
        the change on a fresh read whenever another writer got there first. The conversation
        as written and what ``change`` returned, or None when there is no such conversation.
        ``bounded``: a 400 naming the setting when the result is over ``max_bytes``."""
        key = _key(app, conversation_id)

        async def write(conversation: Conversation, version: int) -> bool:
            data = conversation.encode()
            if bounded:
                self._bounded(data)
            put = self._store.put_document(key, data, self.ttl_s, expected=version)
            return await self._call(put) is not None

        return await change_document(
            lambda: self._read(app, conversation_id),
            write,
            lambda conversation: (conversation, change(conversation)),
            busy=lambda: _busy(conversation_id),
        )

    def _bounded(self, data: bytes) -> bytes:
        if len(data) > self.max_bytes:
            raise BadRequest(
                f"This conversation would be about {len(data)} bytes, over the router's limit "
                f"of {self.max_bytes} bytes (tuning.responses_max_bytes). Start a new "
                "conversation, or delete some of its items.",
                param="items",
            )
        return data

    async def _read(self, app: str, conversation_id: str) -> Versioned[Conversation] | None:
        self.check_usable()
        if not _ID.match(conversation_id):
            return None
        found = await self._call(self._store.get_document(_key(app, conversation_id)))
        if found is None:
            return None
        try:
            return Versioned(Conversation.decode(found.value), len(found.value), found.version)
        except (ValueError, RecursionError):
            return None

    async def delete(self, app: str, conversation_id: str) -> bool:
        """Forget ``conversation_id``; whether ``app`` had it."""
        self.check_usable()
        if not _ID.match(conversation_id):
            return False
        return await self._call(self._store.delete_document(_key(app, conversation_id)))

    async def _call(self, pending: Awaitable[T]) -> T:
        return await self._health.call("conversations", pending, _unavailable)


def _key(app: str, conversation_id: str) -> str:
    return f"conv:{app}:{conversation_id}"


def _busy(conversation_id: str) -> Conflict:
    return Conflict(
        f"Conversation '{conversation_id}' is being changed by other requests right now; retry."
    )


def _unavailable() -> StoreUnavailable:
    return StoreUnavailable(
        "The router's conversation store cannot be reached; retry shortly, or send the whole "
        "conversation in 'input' with store: false."
    )
