"""A router whose store user has only the ACL rules ``redis_acl.acl_rules`` gives it does all its
store work: limits, sync, documents, logs and their bells; one without the bells' channels still
appends and reads its logs. Against a real redis-server, whose ACL refuses what a user may not
do."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from live import eventually
from pydantic import SecretStr
from redis.exceptions import NoPermissionError

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.state.redis_acl import acl_rules
from gptoss_router.state.redis_client import connect
from gptoss_router.state.redis_store import RedisStore
from gptoss_router.state.store import (
    ABSENT,
    Bench,
    Outgoing,
    SpendTotal,
    StoreFailed,
    spend_periods,
)

pytestmark = pytest.mark.timeout(60)

_RING_S = 20.0  # a wait that ends within this was ended by a ring
LOG = "events:shop:resp_acl"


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The server's ``default`` user, to set up ACL users."""
    client = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        yield client
    finally:
        await client.aclose()


async def _as_user(
    server: RedisServer, admin: aioredis.Redis, name: str, rules: tuple[str, ...]
) -> RedisStore:
    password = secrets.token_urlsafe(16)
    await admin.execute_command("ACL", "SETUSER", name, "reset", f">{password}", *rules)
    config = StoreConfig(url=server.url, username=name, key=SecretStr(password))
    store = connect(config)
    await store.ping()
    return store


async def test_a_user_with_only_the_documented_rules_does_all_the_store_work(
    redis_server: RedisServer, admin: aioredis.Redis
) -> None:
    store = await _as_user(redis_server, admin, "gptoss-router", acl_rules())
    other = await _as_user(redis_server, admin, "gptoss-router-2", acl_rules())
    try:
        taken = await store.take("shop:rpm", 100, 10, 60.0, 1_000.0)
        await store.charge("shop:rpm", -2, 60.0, 16)
        now = 1_796_300_000.0
        day, month = spend_periods(now)
        out = Outgoing(
            replica="r1",
            inflight={"http://pod-a:8000": 2},
            spend=(SpendTotal("shop", day, 1_500), SpendTotal("shop", month, 1_500)),
            benches=(Bench("spent", "groq", 4_102_444_800.0),),
            budget_apps=("shop",),
        )
        incoming = await store.sync(out, now)
        version = await store.put_document("conv:shop:c1", b"{}", 60, expected=ABSENT)
        lock, found = await store.put_then_get(
            "conv-lock:shop:c1", b"resp_1", 30, expected=ABSENT, then="conv:shop:c1"
        )
        deleted = await store.delete_document("conv-lock:shop:c1", expected=lock or 0)
        async with other.watch_log(LOG) as bell:
            assert await bell.wait(_RING_S)  # subscribed to the log's channel
            length = await store.append_log(LOG, [b"0 response.created\n{}"], 60)
            assert await bell.wait(_RING_S)
        entries = await other.read_log(LOG, 0, 10)
        gone = await store.delete_log(LOG)
        heard = asyncio.Queue[bytes]()
        other.listen("cancels", heard.put_nowait)
        await eventually(lambda: _told(store, b"resp_1"), what="a listener", within=_RING_S)
        told = await asyncio.wait_for(heard.get(), _RING_S)
    finally:
        await store.close()
        await other.close()
    assert taken.granted == 10
    assert incoming.spend["shop"] == (1_500, 1_500)
    assert [b.key for b in incoming.benches] == ["groq"]
    assert version == 1 and lock == 1 and found is not None and deleted
    assert length == 1 and entries == [b"0 response.created\n{}"] and gone
    assert told == b"resp_1"


async def _told(store: RedisStore, message: bytes) -> bool:
    """Whether a router heard ``message`` told on ``cancels`` (none: not subscribed yet)."""
    return await store.tell("cancels", message) > 0


async def test_the_rules_keep_a_router_to_its_own_keys(
    redis_server: RedisServer, admin: aioredis.Redis
) -> None:
    await admin.set("billing:invoice:1", "42")
    password = secrets.token_urlsafe(16)
    await admin.execute_command("ACL", "SETUSER", "gptoss-router", f">{password}", *acl_rules())
    other_prefix = await _as_user(redis_server, admin, "other", acl_rules("elsewhere"))
    as_router = aioredis.Redis.from_url(
        redis_server.url, username="gptoss-router", password=password
    )
    try:
        with pytest.raises(StoreFailed, match="no permissions"):
            await other_prefix.get_document("conv:shop:c1")  # gptoss:doc:… is not its key
        with pytest.raises(NoPermissionError):
            await as_router.get("billing:invoice:1")
        with pytest.raises(NoPermissionError):
            await as_router.execute_command("FLUSHALL")
    finally:
        await other_prefix.close()
        await as_router.aclose()


async def test_a_user_without_the_bells_channels_still_appends_and_replays_read_on_a_timer(
    redis_server: RedisServer, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    rules = tuple(r for r in acl_rules() if not r.startswith("&"))
    store = await _as_user(redis_server, admin, "no-channels", rules)
    try:
        with caplog.at_level(logging.WARNING, logger="gptoss_router.state.redis_bells"):
            async with store.watch_log(LOG) as bell:
                length = await store.append_log(LOG, [b"0 response.created\n{}"], 60)
                rung = await bell.wait(1.0)
            with pytest.raises(StoreFailed, match="no permissions"):
                await store.tell("cancels", b"resp_1")  # state/cancels.py logs it, and goes on
        entries = await store.read_log(LOG, 0, 10)
    finally:
        await store.close()
    assert length == 1 and entries == [b"0 response.created\n{}"]
    assert not rung  # no channel, no bell: the replay's timer stands in
    said = [r.getMessage() for r in caplog.records]
    assert any("pub/sub failed" in line and "no permissions" in line for line in said), said


def test_the_docs_give_the_rules_the_code_gives() -> None:
    limits = (Path(__file__).resolve().parents[2] / "docs" / "limits.md").read_text()
    line = f"ACL SETUSER gptoss-router reset >PASSWORD {' '.join(acl_rules())}"
    assert line in limits.splitlines()
