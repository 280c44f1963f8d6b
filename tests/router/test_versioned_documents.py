"""Stored documents are versioned, and a write can be a compare-and-set on the version: two
writers that change one conversation (or one background response) at once both land, or one is
told to read again; neither silently undoes the other. Checked on both stores: the in-process one
and a real redis-server."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import openai
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from tests.router.live import eventually, fleet, live_router, router_settings

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.metrics import RouterMetrics
from gptoss_router.state.conversations import Conversation, ConversationRecords
from gptoss_router.state.redis_client import connect
from gptoss_router.state.redis_store import RedisStore
from gptoss_router.state.store import ABSENT, Store
from gptoss_router.state.store_health import StoreHealth

MODEL = "gpt-oss-120b"
APPS = [{"name": "shop", "key": "shop-key-1"}]


async def test_each_write_of_a_document_raises_its_version(store: Store) -> None:
    assert await store.put_document("d", b"one", 60) == 1
    assert await store.put_document("d", b"two", 60) == 2
    found = await store.get_document("d")
    assert found is not None and (found.value, found.version) == (b"two", 2)


async def test_a_write_expecting_an_older_version_changes_nothing(store: Store) -> None:
    await store.put_document("d", b"one", 60)
    read = await store.get_document("d")
    assert read is not None
    assert await store.put_document("d", b"first writer", 60, expected=read.version) == 2
    assert await store.put_document("d", b"second writer", 60, expected=read.version) is None
    found = await store.get_document("d")
    assert found is not None and found.value == b"first writer"


async def test_a_write_expecting_no_document_only_creates(store: Store) -> None:
    assert await store.put_document("d", b"new", 60, expected=ABSENT) == 1
    assert await store.put_document("d", b"again", 60, expected=ABSENT) is None
    assert await store.delete_document("d")
    assert await store.put_document("d", b"after delete", 60, expected=ABSENT) == 1


async def test_a_lock_taken_and_the_document_it_guards_read_in_one_call(store: Store) -> None:
    await store.put_document("conv", b"items", 60)
    version, found = await store.put_then_get("lock", b"turn-1", 30, expected=ABSENT, then="conv")
    assert version == 1 and found is not None and (found.value, found.version) == (b"items", 1)
    again, seen = await store.put_then_get("lock", b"turn-2", 30, expected=ABSENT, then="conv")
    assert again is None and seen is None  # held: nothing written, nothing read
    held = await store.get_document("lock")
    assert held is not None and held.value == b"turn-1"
    assert await store.put_then_get("free", b"x", 30, expected=ABSENT, then="none") == (1, None)


async def test_a_document_written_before_versions_reads_as_version_zero(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(url=redis_server.url, key=SecretStr(redis_server.password))
    store: RedisStore = connect(config)
    raw = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        await raw.set(f"{config.key_prefix}:doc:old", b"plain", px=60_000)
        found = await store.get_document("old")
        assert found is not None and (found.value, found.version) == (b"plain", 0)
        assert await store.put_document("old", b"versioned", 60, expected=0) == 1
        assert await raw.pttl(f"{config.key_prefix}:doc:old") > 50_000
    finally:
        await raw.aclose()
        await store.close()


async def test_changes_racing_on_one_conversation_through_redis_all_land(
    redis_server: RedisServer,
) -> None:
    # Each change awaits its read and its write on the network, so the twelve interleave.
    store = connect(StoreConfig(url=redis_server.url, key=SecretStr(redis_server.password)))
    health = StoreHealth(RouterMetrics(CollectorRegistry()), clock=time.monotonic)
    records = ConversationRecords(store, health, ttl_s=60, max_bytes=1_000_000)
    meta = {"id": "conv_race", "object": "conversation", "created_at": 1, "metadata": {}}

    async def add(n: int) -> None:
        item = {"type": "message", "role": "user", "id": f"msg_{n}", "content": str(n)}
        await records.update("shop", "conv_race", lambda c: c.items.append(item))

    try:
        await records.create("shop", Conversation(meta, []))
        await asyncio.gather(*(add(n) for n in range(12)))
        found = await records.get("shop", "conv_race")
    finally:
        await store.close()
    assert found is not None
    assert sorted(item["id"] for item in found[0].items) == sorted(f"msg_{n}" for n in range(12))


async def test_items_added_at_once_through_two_routers_on_one_redis_are_all_kept(
    redis_server: RedisServer,
) -> None:
    with fleet() as found:
        # Both routers and the clients share this test's one event loop, so a store call can
        # wait behind the other requests' work far longer than in a router process of its own:
        # the store timeout is raised so that only lost updates could fail the test.
        store = StoreConfig(
            url=redis_server.url, key=SecretStr(redis_server.password), timeout_s=5.0
        )
        settings = router_settings(found, apps=APPS).model_copy(update={"store": store})
        async with (
            live_router(settings) as one,
            live_router(settings) as two,
            AsyncExitStack() as stack,
        ):
            clients = [
                await stack.enter_async_context(
                    openai.AsyncOpenAI(
                        base_url=f"{r.base_url}/v1", api_key="shop-key-1", max_retries=0
                    )
                )
                for r in (one, two)
            ]
            conversation = await clients[0].conversations.create()

            async def add(n: int) -> Any:
                item = {"type": "message", "role": "user", "content": f"note {n}"}
                return await clients[n % 2].conversations.items.create(
                    conversation.id, items=[item]
                )

            await asyncio.gather(*(add(n) for n in range(16)))

            async def turn(n: int) -> Any:
                """A turn, sent again while another turn holds the conversation."""

                async def landed() -> Any:
                    try:
                        return await clients[n % 2].responses.create(
                            model=MODEL, conversation=conversation.id, input=f"turn {n}"
                        )
                    except openai.BadRequestError as err:
                        if err.code != "conversation_locked":
                            raise
                        return None

                return await eventually(landed, what=f"turn {n} to land", within=60.0)

            await asyncio.gather(*(turn(n) for n in range(4)))
            page = await clients[1].conversations.items.list(
                conversation.id, limit=100, order="asc"
            )
            texts = [
                part.text
                for item in page.data
                if item.type == "message" and item.role == "user"
                for part in item.content
                if hasattr(part, "text")
            ]
            assert sorted(t for t in texts if t.startswith("note")) == sorted(
                f"note {n}" for n in range(16)
            )
            assert sorted(t for t in texts if t.startswith("turn")) == [
                f"turn {n}" for n in range(4)
            ]
            # One turn at a time: each turn's question is followed by its own answer.
            kinds = [(i.type, getattr(i, "role", None)) for i in page.data[16:]]
            assert kinds == [("message", "user"), ("reasoning", None), ("message", "assistant")] * 4
            assistant = [i for i in page.data if i.type == "message" and i.role == "assistant"]
            assert len(assistant) == 4
