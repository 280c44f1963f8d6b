"""A cancel told by one replica reaches the listener of every replica (``state/cancels.py``);
what is not a response id is ignored, and a store that refuses to tell costs the cancel
nothing but a warning. The path through Redis and two routers is in
``test_background_cancel.py``."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from gptoss_router.metrics import RouterMetrics
from gptoss_router.state.cancels import TOPIC, Cancels
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import StoreFailed
from gptoss_router.state.store_health import StoreHealth


def _health() -> StoreHealth:
    return StoreHealth(RouterMetrics(CollectorRegistry()), clock=lambda: 0.0)


async def test_a_cancel_told_reaches_the_replica_that_runs_it() -> None:
    store, stopped = MemoryStore(), []
    cancels = Cancels(store, _health())
    cancels.follow(lambda rid: stopped.append(rid) or True)
    await cancels.tell("resp_0123456789abcdef")
    assert stopped == ["resp_0123456789abcdef"]


async def test_a_message_that_is_no_response_id_is_ignored() -> None:
    store, stopped = MemoryStore(), []
    Cancels(store, _health()).follow(lambda rid: stopped.append(rid) or True)
    await store.tell(TOPIC, b"../../etc/passwd")
    assert stopped == []


class _Refusing(MemoryStore):
    async def tell(self, topic: str, message: bytes) -> int:
        raise StoreFailed("NoPermissionError: no permissions to access a channel")


async def test_a_store_that_refuses_to_tell_leaves_the_cancel_standing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = _health()
    with caplog.at_level(logging.WARNING, logger="gptoss_router.state.cancels"):
        await Cancels(_Refusing(), health).tell("resp_0123456789abcdef")
    assert any("was not told" in r.getMessage() for r in caplog.records)
    assert health.up  # a refusal to tell is no sign of a store that is down
