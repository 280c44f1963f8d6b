"""One turn at a time per conversation: the lock a turn holds in the shared store, on both
stores (the in-process one and a real redis-server)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from tests.router.live import eventually

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import ConversationLocked, StoreUnavailable
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.proxy.turns import Turns
from gptoss_router.state import turn_locks
from gptoss_router.state.conversations import Conversation, ConversationRecords
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.redis_client import connect
from gptoss_router.state.responses import ResponseRecords
from gptoss_router.state.store import ANY_VERSION, Document, Store, StoreFailed
from gptoss_router.state.store_health import StoreHealth
from gptoss_router.state.turn_locks import TurnLock

KEY = "conv-lock:shop:conv_1"


def records(store: Store) -> ConversationRecords:
    health = StoreHealth(RouterMetrics(CollectorRegistry()), clock=time.monotonic)
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


class ReadLost(MemoryStore):
    """A store that takes a lock's write but whose answer is lost (a timeout, a cut
    connection) while ``lost`` is set."""

    lost = False

    async def put_then_get(
        self, key: str, value: bytes, ttl_s: float, *, expected: int, then: str
    ) -> tuple[int | None, Document | None]:
        written = await self.put_document(key, value, ttl_s, expected=expected)
        if self.lost:
            raise StoreFailed("TimeoutError: no answer")
        return written, await self.get_document(then)


async def test_a_lock_whose_answer_was_lost_is_given_back_for_the_retry() -> None:
    store = ReadLost()
    locks = Locks(store)
    first = await locks.lock("shop", "conv_1", "resp_0")  # creates the conversation
    await first.release()
    store.lost = True
    with pytest.raises(StoreUnavailable):
        await locks.conversations.lock("shop", "conv_1", "resp_1")
    store.lost = False
    assert await store.get_document(KEY) is None  # the client's retry is not refused as locked


async def test_a_conversation_of_a_router_from_before_versions_keeps_what_it_wrote_meanwhile(
    redis_server: RedisServer,
) -> None:
    store = connect(StoreConfig(url=redis_server.url, key=SecretStr(redis_server.password)))
    raw = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        key = "gptoss:doc:conv:shop:conv_1"
        meta = {"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}
        first = {"id": "msg_a", "type": "message", "role": "user", "content": "a"}
        await raw.set(key, json.dumps({"conversation": meta, "items": [first]}))  # no version
        health = StoreHealth(RouterMetrics(CollectorRegistry()), clock=time.monotonic)
        records = ResponseRecords(store, health, ttl_s=60.0, max_bytes=1 << 20)
        turns = Turns(records, ConversationRecords(store, health, ttl_s=60.0, max_bytes=1 << 20))
        body = json.dumps({"model": "m", "input": "hi", "conversation": "conv_1"}).encode()
        turn = await turns.begin("shop", read_inbound("responses", body), body)
        older = {"id": "msg_old", "type": "message", "role": "user", "content": "old router"}
        changed = {"conversation": {**meta, "metadata": {"k": "v"}}, "items": [first, older]}
        await raw.set(key, json.dumps(changed))  # an older router, meanwhile, without a lock
        text = {"type": "output_text", "text": "answer", "annotations": []}
        output = [{"id": "msg_out", "type": "message", "role": "assistant", "content": [text]}]
        await turns.keep(turn, {"id": turn.response_id, "status": "completed", "output": output})
        await turn.unlock()
        found = await turns.conversations.get("shop", "conv_1") if turns.conversations else None
    finally:
        await raw.aclose()
        await store.close()
    assert found is not None
    assert [i["id"] for i in found[0].items][:2] == ["msg_a", "msg_old"]
    assert found[0].meta["metadata"] == {"k": "v"}


async def test_a_turn_that_ends_while_its_lock_is_renewed_gives_back_the_renewed_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turn_locks, "RENEW_S", 0.01)
    held: dict[str, int] = {"version": 1}
    applied, answer = asyncio.Event(), asyncio.Event()

    async def put(expected: int, ttl_s: float) -> int | None:
        if held.get("version") != expected:
            return None
        held["version"] = expected + 1  # the store applied the renewal ...
        applied.set()
        await answer.wait()  # ... and its answer is on the way back
        return held["version"]

    async def drop(expected: int) -> bool:
        if held.get("version") != expected:
            return False
        del held["version"]
        return True

    async def ours() -> int | None:
        return held.get("version")

    lock = TurnLock(put, drop, ours, 1, "conversation conv_1", taken_at=time.monotonic())
    await asyncio.wait_for(applied.wait(), 10)
    releasing = asyncio.create_task(lock.release())
    await asyncio.sleep(0)  # the release begins while the renewal's answer is awaited
    answer.set()
    await asyncio.wait_for(releasing, 10)
    assert held == {}  # given back at the version the renewal wrote, not left to expire


class OneLock:
    """A conversation's lock as the store keeps it: its version and the turn it names."""

    def __init__(self, owner: str) -> None:
        self.held: dict[str, object] = {"version": 1, "owner": owner}
        self.lose_next_answer = False  # the next renewal is applied, its answer lost

    def for_turn(self, owner: str) -> tuple[Any, Any, Any]:
        async def put(expected: int, ttl_s: float) -> int | None:
            if self.held.get("version") != expected:
                return None
            self.held = {"version": expected + 1, "owner": owner}
            if self.lose_next_answer:
                self.lose_next_answer = False
                raise StoreUnavailable("The shared store did not answer.")
            return expected + 1

        async def drop(expected: int) -> bool:
            if self.held.get("version") != expected:
                return False
            self.held = {}
            return True

        async def ours() -> int | None:
            mine = self.held.get("owner") == owner
            version = self.held.get("version")
            return version if mine and isinstance(version, int) else None

        return put, drop, ours


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_renewal_whose_answer_was_lost_keeps_the_lock_its_turn_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turn_locks, "RENEW_S", 0.01)
    store = OneLock("resp_1")
    store.lose_next_answer = True
    lock = TurnLock(*store.for_turn("resp_1"), 1, "conversation conv_1", taken_at=time.monotonic())

    async def renewed_after() -> bool:
        version = store.held.get("version")
        return isinstance(version, int) and version >= 4

    await eventually(renewed_after, what="renewals after the lost answer", within=10.0)
    assert lock.held  # not given up while its turn runs
    await lock.release()
    assert store.held == {}  # given back, not left locked for LOCK_TTL_S


async def test_a_lock_expired_and_taken_at_the_same_version_is_neither_renewed_nor_given_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turn_locks, "RENEW_S", 0.01)
    store, clock = OneLock("resp_1"), Clock()
    renewing = TurnLock(
        *store.for_turn("resp_1"), 1, "conversation conv_1", taken_at=clock.now, clock=clock
    )
    # the store was away past the lock's life: it expired, and another turn took it anew
    clock.now += turn_locks.LOCK_TTL_S + 1
    store.held = {"version": 1, "owner": "resp_2"}

    async def gave_up() -> bool:
        return not renewing.held

    await eventually(gave_up, what="the first turn to see the lock is not its own", within=10.0)
    await renewing.release()
    assert store.held == {"version": 1, "owner": "resp_2"}


async def test_a_lock_that_may_have_expired_is_given_back_only_if_it_names_its_turn() -> None:
    store, clock = OneLock("resp_1"), Clock()
    lock = TurnLock(
        *store.for_turn("resp_1"), 1, "conversation conv_1", taken_at=clock.now, clock=clock
    )
    clock.now += turn_locks.LOCK_TTL_S + 1  # not renewed since (the store was away)
    store.held = {"version": 1, "owner": "resp_2"}  # expired, and taken by another turn
    await lock.release()
    assert store.held == {"version": 1, "owner": "resp_2"}


async def test_a_turn_that_starts_while_items_are_changed_is_refused(store: Store) -> None:
    locks = Locks(store)
    await (await locks.lock("shop", "conv_1", "resp_0")).release()  # creates the conversation
    taken = await locks.conversations.edit_lock("shop", "conv_1")
    assert taken is not None
    editing, _ = taken
    with pytest.raises(ConversationLocked):
        await locks.conversations.lock("shop", "conv_1", "resp_1")
    await editing.release()
    turn = await locks.lock("shop", "conv_1", "resp_1")
    with pytest.raises(ConversationLocked):  # and items wait for no turn
        await locks.conversations.edit_lock("shop", "conv_1")
    await turn.release()


async def test_items_changes_wait_for_each_other(store: Store) -> None:
    locks = Locks(store)
    await (await locks.lock("shop", "conv_1", "resp_0")).release()
    first = await locks.conversations.edit_lock("shop", "conv_1")
    assert first is not None
    second = asyncio.create_task(locks.conversations.edit_lock("shop", "conv_1"))
    for _ in range(3):  # it meets the lock the first change holds
        await asyncio.sleep(0)
    assert not second.done()
    await first[0].release()
    taken = await asyncio.wait_for(second, 10)
    assert taken is not None
    await taken[0].release()
    assert await store.get_document(KEY) is None
