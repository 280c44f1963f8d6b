"""A replay that follows a background response's log from another replica is woken by the store
when the log grows (Redis pub/sub), not by a timer; a lost pub/sub connection is made again and
its bells rung. The Redis side runs against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from live import eventually
from pydantic import SecretStr

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.state.bells import Bells
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.redis_client import connect
from gptoss_router.state.redis_store import RedisStore

pytestmark = pytest.mark.timeout(60)

# Long enough that a wait which ends within it was ended by a ring, not by its timer running out
# on a slow machine: a bell that never rings fails the test rather than passing late.
_RING_S = 20.0
LOG = "events:app:resp_1"


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two replicas' clients of one redis-server."""
    config = StoreConfig(url=redis_server.url, key=SecretStr(redis_server.password))
    first, second = connect(config), connect(config)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _subscribers(admin: aioredis.Redis, log: str) -> int:
    """How many connections the server has subscribed to the bells' channel of ``log``."""
    counts = await admin.pubsub_numsub(f"gptoss:logged:{log}")
    return int(counts[0][1])


def _admin(server: RedisServer) -> aioredis.Redis:
    return aioredis.Redis.from_url(server.url, password=server.password)


async def test_an_append_on_one_replica_rings_the_bell_of_a_replay_on_another(
    replicas: tuple[RedisStore, RedisStore],
) -> None:
    watching, writing = replicas
    async with watching.watch_log(LOG) as bell:
        assert await bell.wait(_RING_S)  # the subscription took: appends from now on are heard
        await writing.append_log(LOG, [b"0 response.created\n{}"], 60)
        assert await bell.wait(_RING_S)
        assert await watching.read_log(LOG, 0, 10) == [b"0 response.created\n{}"]
        assert not await bell.wait(0.05)  # one append, one ring: nothing is left pending


async def test_a_batch_past_luas_unpack_limit_is_appended_whole_and_in_order(
    replicas: tuple[RedisStore, RedisStore],
) -> None:
    # events a store outage held back go in one append; the script pushes them in slices
    watching, writing = replicas
    entries = [b"%d response.output_text.delta\n{}" % n for n in range(9_500)]
    async with watching.watch_log(LOG) as bell:
        assert await bell.wait(_RING_S)
        assert await writing.append_log(LOG, entries[:1], 60) == 1
        assert await writing.append_log(LOG, entries[1:], 60) == len(entries)
        assert await bell.wait(_RING_S)
    assert await watching.read_log(LOG, 0, 10_000) == entries


async def test_an_append_to_another_log_leaves_the_bell_silent(
    replicas: tuple[RedisStore, RedisStore],
) -> None:
    watching, writing = replicas
    async with watching.watch_log(LOG) as bell:
        assert await bell.wait(_RING_S)
        await writing.append_log("events:app:resp_2", [b"0 response.created\n{}"], 60)
        await writing.append_log(LOG, [b"0 response.created\n{}"], 60)
        assert await bell.wait(_RING_S)
        assert not await bell.wait(0.05)


async def test_a_log_is_unsubscribed_once_its_last_replay_ends(
    redis_server: RedisServer, replicas: tuple[RedisStore, RedisStore]
) -> None:
    watching, _ = replicas
    admin = _admin(redis_server)

    async def subscribers() -> int:
        return await _subscribers(admin, LOG)

    async def unsubscribed() -> bool:
        return await subscribers() == 0

    try:
        async with watching.watch_log(LOG) as first:
            assert await first.wait(_RING_S)
            assert await subscribers() == 1
            async with watching.watch_log(LOG):
                assert await subscribers() == 1  # one subscription per router, however many replays
            assert await subscribers() == 1  # the first replay still follows it
        await eventually(unsubscribed, what="the unsubscribe", within=_RING_S)
    finally:
        await admin.aclose()


async def test_a_lost_pubsub_connection_is_made_again_and_its_bells_rung(
    redis_server: RedisServer,
    replicas: tuple[RedisStore, RedisStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    watching, writing = replicas
    admin = _admin(redis_server)
    try:
        with caplog.at_level(logging.INFO, logger="gptoss_router.state.redis_bells"):
            async with watching.watch_log(LOG) as bell:
                assert await bell.wait(_RING_S)
                assert await admin.client_kill_filter(_type="pubsub") == 1
                # subscribed again: appends made meanwhile may have gone unheard, so it rings
                assert await bell.wait(_RING_S)
                await writing.append_log(LOG, [b"0 response.created\n{}"], 60)
                assert await bell.wait(_RING_S)
    finally:
        await admin.aclose()
    said = [r.getMessage() for r in caplog.records]
    assert any("pub/sub failed" in line for line in said), said
    assert any("answers again" in line for line in said), said
    assert not any(redis_server.password in line for line in said)


async def test_replays_come_and_go_unharmed_while_the_pubsub_connection_is_killed(
    redis_server: RedisServer, replicas: tuple[RedisStore, RedisStore]
) -> None:
    watching, writing = replicas
    admin = _admin(redis_server)

    async def subscribed_again() -> bool:
        return await _subscribers(admin, LOG) == 1

    try:
        async with watching.watch_log(LOG) as kept:
            assert await kept.wait(_RING_S)
            for n in range(5):  # a replay starts and ends just as the connection drops
                await eventually(subscribed_again, what="the subscription", within=_RING_S)
                await admin.client_kill_filter(_type="pubsub")
                async with watching.watch_log(f"events:app:resp_{n}") as bell:
                    assert not await bell.wait(0)
            await eventually(subscribed_again, what="the subscription", within=_RING_S)
            await writing.append_log(LOG, [b"0 response.created\n{}"], 60)
            assert await kept.wait(_RING_S)
    finally:
        await admin.aclose()


async def test_a_closed_store_leaves_no_reader_behind_even_for_a_replay_ending_after(
    replicas: tuple[RedisStore, RedisStore],
) -> None:
    watching, _ = replicas
    following = watching.watch_log(LOG)
    bell = await following.__aenter__()
    assert await bell.wait(_RING_S)
    await watching.close()
    await following.__aexit__(None, None, None)
    async with watching.watch_log("events:app:resp_late"):
        readers = [t for t in asyncio.all_tasks() if t.get_name() == "gptoss-log-bells"]
    assert readers == []


async def test_the_in_process_store_rings_the_bells_of_its_own_logs() -> None:
    store = MemoryStore()
    async with store.watch_log(LOG) as bell:
        assert not await bell.wait(0.01)  # nothing appended yet
        await store.append_log(LOG, [b"0 response.created\n{}"], 60)
        assert await bell.wait(_RING_S)
        await store.append_log("events:app:resp_2", [b"0 response.created\n{}"], 60)
        assert not await bell.wait(0.01)


def test_bells_are_counted_per_log_and_forgotten_with_their_last_reader() -> None:
    bells = Bells()
    first, was_first = bells.add(LOG)
    second, second_first = bells.add(LOG)
    assert (was_first, second_first) == (True, False)
    assert bells.logs() == {LOG}
    assert not bells.remove(LOG, first)
    assert bells.remove(LOG, second)
    assert bells.logs() == frozenset()
    assert not bells.remove(LOG, second)  # forgetting twice is harmless
