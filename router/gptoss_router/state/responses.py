"""Stored Responses: one record per response, in the shared store, scoped to the app.

A record is one JSON document under ``resp:<app>:<response id>`` that expires after
``tuning.responses_ttl_s``:

    {"prior": [...], "input": [...], "response": {...}}

``prior`` holds the items of the earlier turns the response was made from (their inputs and
outputs), ``input`` the request's own input items, ``response`` the whole response object as
the backend produced it (reasoning included, even for apps that are not shown reasoning). A
follow-up turn is one read whatever the conversation's length, and each record stands alone:
deleting or expiring one response does not break the turns that followed it. The price is
storage that grows with the square of a conversation's turns, bounded per record by
``tuning.responses_max_bytes``. Another app's id is simply a key that does not exist.

A background response changes while it runs (queued, in progress, then done or cancelled):
``update`` is a compare-and-set on the record's version, so a cancel and the run's last write
cannot undo each other.

Reads, deletes and the store's failures are handled as for conversations
(``app_documents``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gptoss_router import codec
from gptoss_router.state.app_documents import AppDocuments
from gptoss_router.state.optimistic import change_document

__all__ = ["Record", "ResponseRecords"]


@dataclass(frozen=True, slots=True)
class Record:
    """One stored response and the items it was made from."""

    prior: list[dict[str, Any]]
    input: list[dict[str, Any]]
    response: dict[str, Any]

    def history(self) -> list[dict[str, Any]]:
        """Every item a next turn starts from: earlier turns, this input, this output."""
        output = self.response.get("output")
        return [*self.prior, *self.input, *(output if isinstance(output, list) else ())]

    def encode(self) -> bytes:
        """The record as stored."""
        doc = {"prior": self.prior, "input": self.input, "response": self.response}
        return codec.dumps(doc)

    @classmethod
    def decode(cls, data: bytes) -> Record:
        """A stored record (``ValueError`` if it is not one)."""
        doc = codec.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("response"), dict):
            raise ValueError("not a stored response")
        return cls(list(doc.get("prior") or []), list(doc.get("input") or []), doc["response"])


class ResponseRecords(AppDocuments[Record]):
    """Reads and writes records through the shared store."""

    prefix = "resp"
    noun = "response"
    decode = staticmethod(Record.decode)

    async def put(self, app: str, record: Record) -> None:
        """Keep ``record`` for ``app`` under its response's id."""
        key = self._key(app, str(record.response.get("id")))
        await self._call(self._store.put_document(key, record.encode(), self.ttl_s))

    async def update(
        self, app: str, response_id: str, change: Callable[[Record], Record | None]
    ) -> Record | None:
        """Apply ``change`` to the stored record of ``response_id`` and keep what it returns
        (None: keep nothing), reading again whenever another writer got there first. The
        record written, or None when there was none or ``change`` kept nothing."""
        key = self._key(app, response_id)

        async def write(record: Record, version: int) -> bool:
            return await self._put_at(key, record.encode(), version)

        def step(record: Record) -> tuple[Record, None] | None:
            changed = change(record)
            return None if changed is None else (changed, None)

        done = await change_document(
            lambda: self._read(app, response_id),
            write,
            step,
            busy=lambda: self._busy(response_id),
        )
        return None if done is None else done[0]
