"""A store behind Redis Sentinel follows the primary through a failover: real ``redis-server``
processes, a primary and its replica, and a real Sentinel watching them (``redis_sentinel.py``).
When the primary is killed, the Sentinel promotes the replica, and the router's store, which
knows only the Sentinel, reads what it wrote before and writes again, and its log bells ring
again, with no restart and no setting changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from live import eventually
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError

from gptoss_localkube.redis_sentinel import RedisSentinel, replica_of
from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.state.redis_client import connect
from gptoss_router.state.store import ABSENT, StoreFailed

pytestmark = pytest.mark.timeout(90)

_FAILOVER_S = 45.0  # the Sentinel notices in 0.5 s and promotes within seconds on a busy machine
_RING_S = 20.0
_SYNC_S = 30.0  # a primary starts a replica's first sync after repl-diskless-sync-delay (5 s)
_CALL_S = 15.0  # the test's own clients: longer than the 10 s a WAIT may take
LOG = "events:shop:resp_failover"


@pytest.fixture
def watched(redis_server: RedisServer) -> Iterator[tuple[RedisServer, RedisServer, RedisSentinel]]:
    """The primary (``redis_server``), its replica, and a Sentinel watching them."""
    with (
        RedisServer(
            password=redis_server.password,
            binary=redis_server.binary,
            extra_config=replica_of(redis_server),
        ) as replica,
        RedisSentinel(redis_server) as sentinel,
    ):
        yield redis_server, replica, sentinel


async def test_the_store_follows_its_primary_through_a_failover_the_sentinel_makes(
    watched: tuple[RedisServer, RedisServer, RedisSentinel],
) -> None:
    primary, replica, sentinel = watched
    config = StoreConfig(
        url=sentinel.url,
        sentinel_master=sentinel.master,
        key=SecretStr(primary.password),
        timeout_s=2.0,
    )
    store = connect(config)
    on_primary = aioredis.Redis.from_url(
        primary.url, password=primary.password, socket_timeout=_CALL_S
    )
    on_replica = aioredis.Redis.from_url(
        replica.url, password=replica.password, socket_timeout=_CALL_S
    )

    async def in_sync() -> bool:
        info = await on_replica.info("replication")
        return bool(info.get("master_link_status") == "up")

    async def promoted() -> bool:
        try:
            role = await on_replica.execute_command("ROLE")
        except RedisConnectionError:
            return False  # the Sentinel drops the clients of the replica it promotes
        return bool(role[0] == b"master")

    async def resubscribed() -> bool:
        counts = await on_replica.pubsub_numsub(f"gptoss:logged:{LOG}")
        return int(counts[0][1]) == 1

    async def written_again() -> int | None:
        try:
            return await store.put_document("conv:shop:c2", b"after", 60, expected=ABSENT)
        except StoreFailed:
            return None  # the old primary is gone and the Sentinel has not promoted yet

    try:
        await eventually(in_sync, what="the replica's first sync", within=_SYNC_S)
        assert await store.put_document("conv:shop:c1", b"before", 600) == 1
        assert await on_primary.wait(1, 10_000) == 1  # the replica has it
        async with store.watch_log(LOG) as bell:
            assert await bell.wait(_RING_S)  # subscribed on the primary
            primary.kill()
            await eventually(promoted, what="the replica's promotion", within=_FAILOVER_S)
            assert await eventually(written_again, what="a write", within=_FAILOVER_S) == 1
            found = await store.get_document("conv:shop:c1")
            await eventually(resubscribed, what="the bells' subscription", within=_RING_S)
            assert await bell.wait(_RING_S)  # rung as it was subscribed again
            await store.append_log(LOG, [b"0 response.created\n{}"], 60)
            assert await bell.wait(_RING_S)
    finally:
        await store.close()
        await on_primary.aclose()
        await on_replica.aclose()
    assert found is not None and found.value == b"before"


def test_a_sentinel_store_says_where_it_is_without_its_password() -> None:
    config = StoreConfig(
        url="redis://sentinel.redis.svc:26379/2", sentinel_master="mymaster", key=SecretStr("pw")
    )
    assert (
        config.where()
        == "the primary mymaster of the Sentinel at redis://sentinel.redis.svc:26379/2"
    )
