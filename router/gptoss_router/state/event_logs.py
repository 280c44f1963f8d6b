"""The events of streamed background responses, kept in the shared store so that any replica can
stream them again (``GET /v1/responses/{id}?stream=true&starting_after=N``).

One log per response, ``events:<app>:<response id>``: the server-sent events as its client was
sent them, in order, each entry headed by the event's ``sequence_number`` and type as read from
its JSON (``entry``), so that no reader has to parse the event, nor can be fooled by what the
event's text holds. The replica running the response appends them in batches; a batch whose
answer was lost may be appended again, so a reader skips any event whose sequence number it has
passed. A log expires with its
response (``tuning.responses_ttl_s`` after its last append) and goes when its response is
deleted. Each append rings the bells of the log's readers (``bells.py``), on this replica and,
through the store, on the others; so do a delete and a cancel of its response, which end them.

Failures are handled as for stored responses (``app_documents``): refused at once while the
store is known to be down, ``StoreUnavailable`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from gptoss_router.errors import StoreUnavailable
from gptoss_router.state.app_documents import valid_id
from gptoss_router.state.bells import Bell
from gptoss_router.state.store import Store, StoreFailed
from gptoss_router.state.store_health import StoreHealth

__all__ = ["TERMINAL_EVENTS", "EventLogs", "entry", "read_entry"]

T = TypeVar("T")

log = logging.getLogger(__name__)

# The events after which a response's stream has nothing more to say.
TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})


def entry(seq: int, kind: str, event: bytes) -> bytes:
    """One event as its log keeps it: its sequence number and type, then the event as sent."""
    return b"%d %s\n" % (seq, kind.encode("ascii", "replace")) + event


def read_entry(kept: bytes) -> tuple[int, str, bytes]:
    """The sequence number, type and event of a log ``entry`` (``ValueError`` if it is not
    one)."""
    head, _, event = kept.partition(b"\n")
    seq, _, kind = head.partition(b" ")
    return int(seq), kind.decode("ascii", "replace"), event


class EventLogs:
    """Appends, reads and forgets the event logs of one router's apps."""

    def __init__(self, store: Store, health: StoreHealth, *, ttl_s: float) -> None:
        self._store = store
        self._health = health
        self.ttl_s = ttl_s

    async def append(self, app: str, response_id: str, events: Sequence[bytes]) -> None:
        """Add ``events`` at the end of ``response_id``'s log."""
        self._check_usable()
        await self._call(self._store.append_log(_key(app, response_id), events, self.ttl_s))

    async def read(self, app: str, response_id: str, start: int, count: int) -> list[bytes]:
        """Up to ``count`` events of ``response_id``'s log from index ``start``."""
        self._check_usable()
        if not valid_id(response_id):
            return []
        return await self._call(self._store.read_log(_key(app, response_id), start, count))

    def watch(self, app: str, response_id: str) -> AbstractAsyncContextManager[Bell]:
        """A bell rung when ``response_id``'s log grows, while the block runs (a hint: read
        the log after each wait, rung or not)."""
        return self._store.watch_log(_key(app, response_id))

    async def delete(self, app: str, response_id: str) -> None:
        """Forget ``response_id``'s log, if it has one, and tell its readers."""
        self._check_usable()
        if valid_id(response_id):
            await self._call(self._store.delete_log(_key(app, response_id)))
            await self.ring(app, response_id)

    async def ring(self, app: str, response_id: str) -> None:
        """Wake the readers of ``response_id``'s log on every replica, so that they look at
        its response now (cancelled or deleted) rather than at their next
        ``tuning.replay_poll_s``. A hint: a store that fails it costs only that promptness."""
        if not (self._health.usable() and valid_id(response_id)):
            return
        try:
            await self._store.ring_log(_key(app, response_id))
        except StoreFailed as err:
            log.info("the readers of %s were not woken (%s)", response_id, err)

    def _check_usable(self) -> None:
        if not self._health.usable():
            raise _unavailable()

    async def _call(self, pending: Awaitable[T]) -> T:
        return await self._health.call("response events", pending, _unavailable)


def _key(app: str, response_id: str) -> str:
    return f"events:{app}:{response_id}"


def _unavailable() -> StoreUnavailable:
    return StoreUnavailable(
        "The router's response store cannot be reached; retry shortly, or retrieve the "
        "response without 'stream' once it has ended."
    )
