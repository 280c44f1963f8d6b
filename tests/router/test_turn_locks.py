"""One turn at a time per conversation: the lock a turn holds in the shared store, on both
stores (the in-process one and a real redis-server)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from tests.router.live import eventually

from gptoss_router.errors import ConversationLocked
from gptoss_router.metrics import RouterMetrics
from gptoss_router.state import turn_locks
from gptoss_router.state.conversations import Conversation, ConversationRecords
from gptoss_router.state.store import ANY_VERSION, Store
from gptoss_router.state.store_health import StoreHealth
from gptoss_router.state.turn_locks import TurnLock

KEY = "conv-lock:shop:conv_1"


def records(store: Store) -> ConversationRecords:
    health = StoreHealth(RouterMetrics(CollectorRegistry()), clock=lambda: 0.0)
    return ConversationRecords(store, health, ttl_s=60.0, max_bytes=1 << 20)


class Locks:
    """Takes the locks of conversations it creates first (a turn's lock guards one)."""

    def __init__(self, store: Store) -> None:
        self.conversations = records(store)

    async def lock(self, app: str, conversation: str, owner: str) -> TurnLock:
        meta = {"id": conversation, "object": "conversation", "created_at": 1, "metadata": {}}
        if await self.conversations.get(app, conversation) is None:
            await self.conversations.create(app, Conversation(meta, [{"type": "message"}]))
        taken = await self.conversations.lock(app, conversation, owner)
        assert taken is not None
        lock, read = taken
        assert read.value.items == [{"type": "message"}]  # read once the lock was taken
        return lock


async def test_a_second_turn_is_refused_while_the_first_holds_the_lock(store: Store) -> None:
    conversations = Locks(store)
    first = await conversations.lock("shop", "conv_1", "resp_1")
    with pytest.raises(ConversationLocked) as refused:
        await conversations.lock("shop", "conv_1", "resp_2")
    other = await conversations.lock("shop", "conv_2", "resp_3")  # another conversation
    another_app = await conversations.lock("web", "conv_1", "resp_4")
    await first.release()
    second = await conversations.lock("shop", "conv_1", "resp_2")
    assert second.held and not first.held
    for lock in (second, other, another_app):
        await lock.release()
    assert refused.value.status == 400 and refused.value.param == "conversation"
    assert refused.value.code == "conversation_locked"


async def test_a_lock_given_back_after_another_turn_took_it_leaves_that_turns_lock(
    store: Store,
) -> None:
    """The first turn's lock expired and a second turn took it: the first giving its lock back
    must not free the conversation under the second."""
    conversations = Locks(store)
    first = await conversations.lock("shop", "conv_1", "resp_1")
    await store.put_document(KEY, b"resp_2", 30.0, expected=ANY_VERSION)  # expired, retaken
    await first.release()
    with pytest.raises(ConversationLocked):
        await conversations.lock("shop", "conv_1", "resp_3")


async def test_a_held_lock_is_renewed_while_its_turn_runs(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(turn_locks, "RENEW_S", 0.01)
    lock = await Locks(store).lock("shop", "conv_1", "resp_1")

    async def renewed() -> bool:
        found = await store.get_document(KEY)
        return found is not None and found.version >= 3

    await eventually(renewed, what="the lock to be renewed twice", within=10.0)
    assert lock.held
    await lock.release()
    assert await store.get_document(KEY) is None or not lock.held


async def test_an_id_no_conversation_could_have_takes_no_lock(store: Store) -> None:
    assert await records(store).lock("shop", "../../etc", "resp_1") is None


async def test_a_conversation_that_does_not_exist_is_left_unlocked(store: Store) -> None:
    assert await records(store).lock("shop", "conv_9", "resp_1") is None
    assert await store.get_document("conv-lock:shop:conv_9") is None
