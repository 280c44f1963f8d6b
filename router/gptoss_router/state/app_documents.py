"""What stored responses and conversations share: JSON documents in the shared store, one per
id, under ``<prefix>:<app>:<id>`` so that another app's id is simply a key that does not exist.

Every call first refuses at once while the store is known to be down (no request waits for
it); a failure of the store becomes ``StoreUnavailable`` (503, Retry-After) and is reported to
the store's health. An id that could not have been made here is never looked up.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import ClassVar, Generic, TypeVar

from gptoss_router.errors import Conflict, StoreUnavailable
from gptoss_router.state.store import Document, Store, StoreFailed, Versioned
from gptoss_router.state.store_health import StoreHealth

__all__ = ["AppDocuments", "valid_id"]

D = TypeVar("D")
T = TypeVar("T")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def valid_id(doc_id: str) -> bool:
    """Whether ``doc_id`` could be the id of a document made here."""
    return _ID.match(doc_id) is not None


class AppDocuments(ABC, Generic[D]):
    """Reads, deletes and guards the documents of one kind; subclasses write them."""

    prefix: ClassVar[str]  # of the keys, e.g. "resp"
    noun: ClassVar[str]  # one document, for messages, e.g. "response"

    def __init__(self, store: Store, health: StoreHealth, *, ttl_s: float, max_bytes: int) -> None:
        self._store = store
        self._health = health
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes

    @staticmethod
    @abstractmethod
    def decode(data: bytes) -> D:
        """A stored document (``ValueError`` if it is not one)."""

    def check_usable(self) -> None:
        """Refuse at once while the store is known to be down."""
        if not self._health.usable():
            raise self._unavailable()

    async def get(self, app: str, doc_id: str) -> tuple[D, int] | None:
        """The document ``doc_id`` of ``app`` and its size in bytes, or None."""
        found = await self._read(app, doc_id)
        return None if found is None else (found.value, found.size)

    async def delete(self, app: str, doc_id: str) -> bool:
        """Forget ``doc_id``; whether ``app`` had it."""
        self.check_usable()
        if not valid_id(doc_id):
            return False
        return await self._call(self._store.delete_document(self._key(app, doc_id)))

    async def _put_at(self, key: str, data: bytes, version: int) -> bool:
        """Write ``data`` at ``key`` if the document there is still at ``version`` (a
        compare-and-set); whether it was. A write whose answer was lost may have landed all the
        same: it counts as written when the document now holds exactly ``data`` at the version
        that write makes, or the caller, told it failed, would change the document again (a
        conversation turn's items appended twice). Otherwise ``StoreUnavailable``."""
        try:
            return (
                await self._call(self._store.put_document(key, data, self.ttl_s, expected=version))
                is not None
            )
        except StoreUnavailable:
            with contextlib.suppress(StoreFailed):
                found = await self._store.get_document(key)
                if (
                    found is not None
                    and found.version == max(1, version + 1)
                    and found.value == data
                ):
                    return True
            raise

    async def _read(self, app: str, doc_id: str) -> Versioned[D] | None:
        self.check_usable()
        if not valid_id(doc_id):
            return None
        return self._decoded(await self._call(self._store.get_document(self._key(app, doc_id))))

    def _decoded(self, found: Document | None) -> Versioned[D] | None:
        """A stored document read back, or None (also for one that is not of this kind)."""
        if found is None:
            return None
        try:
            return Versioned(self.decode(found.value), len(found.value), found.version)
        except (ValueError, RecursionError):
            return None

    async def _call(self, pending: Awaitable[T]) -> T:
        return await self._health.call(f"{self.noun}s", pending, self._unavailable)

    def _key(self, app: str, doc_id: str) -> str:
        return f"{self.prefix}:{app}:{doc_id}"

    def _busy(self, doc_id: str) -> Conflict:
        return Conflict(
            f"{self.noun.capitalize()} '{doc_id}' is being changed by other requests right "
            "now; retry."
        )

    def _unavailable(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"The router's {self.noun} store cannot be reached; retry shortly, or send the "
            "whole conversation in 'input' with store: false."
        )
