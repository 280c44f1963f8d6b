"""A background response cancelled on one router replica, told to the replica that runs it.

``POST /v1/responses/{id}/cancel`` marks the stored response cancelled on whichever replica takes
the call (a compare-and-set on the record, ``http/resources.py``), but the run is a task of the
replica that took the request. When that is another replica, the cancel is told on the store's
topic ``cancels`` (``Store.tell``: Redis pub/sub), and the replica running it stops the run at
once, as if cancelled there: its upstream request closed, so a model's GPU time or a provider's
tokens are no longer spent on an answer nobody will get.

Pub/sub is at most once: a replica whose pub/sub connection is down when the cancel is told does
not hear it. Its run then goes on to its end and its result is dropped, since a cancelled record
is never overwritten; a cancel the store refuses to tell is logged, and stands all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gptoss_router.state.app_documents import valid_id
from gptoss_router.state.store import Store, StoreFailed
from gptoss_router.state.store_health import StoreHealth

__all__ = ["TOPIC", "Cancels"]

log = logging.getLogger(__name__)

TOPIC = "cancels"


class Cancels:
    """Tells cancels to the other replicas, and hears theirs."""

    def __init__(self, store: Store, health: StoreHealth) -> None:
        self._store = store
        self._health = health

    def follow(self, stop: Callable[[str], bool]) -> None:
        """From now on, ``stop(response_id)`` for each cancel another replica tells
        (``stop`` says whether this replica ran it)."""
        self._store.listen(TOPIC, lambda message: _heard(message, stop))

    async def tell(self, response_id: str) -> None:
        """Tell every replica that ``response_id`` is cancelled (its record already says so).
        A refusal is logged, not counted against the store's health: an ACL without the
        topic's channel (``redis_acl.py``) refuses it while the store serves all else."""
        if not self._health.usable():
            return
        try:
            await self._store.tell(TOPIC, response_id.encode())
        except StoreFailed as err:
            log.warning(
                "the cancel of %s was not told to the other replicas (%s): the one running it "
                "goes on, and drops its result",
                response_id,
                err,
            )


def _heard(message: bytes, stop: Callable[[str], bool]) -> None:
    response_id = message.decode("ascii", "replace")
    if valid_id(response_id) and stop(response_id):
        log.info("background response %s stopped: cancelled on another replica", response_id)
