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
    redis_store = connect(StoreConfig(url=server.url, key=SecretStr(server.password)))
    yield redis_store
    await redis_store.close()
