"""Fixtures of the router's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.redis_client import connect
from gptoss_router.state.store import Store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each store in turn: the in-process one, then a client of a fresh redis-server."""
    if request.param == "memory":
        yield MemoryStore()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    # A call under a loaded machine may take longer than the 0.25 s a router allows; these
    # tests are about what the store answers, not how fast.
    config = StoreConfig(url=server.url, key=SecretStr(server.password), timeout_s=5.0)
    redis_store = connect(config)
    yield redis_store
    await redis_store.close()
