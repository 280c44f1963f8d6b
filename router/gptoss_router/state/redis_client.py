"""Opening the Redis store: its client for a ``store`` setting, and the wait for its first
answer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import ConfigError
from gptoss_router.state.redis_store import RedisStore
from gptoss_router.state.store import StoreFailed

__all__ = ["connect", "wait_for_store"]


def connect(config: StoreConfig) -> RedisStore:
    """A store client for ``config`` (no I/O yet: connections open on first use): of the server
    at ``url``, or, with ``sentinel_master``, of the primary the Sentinel at ``url`` names."""
    parts = urlsplit(config.url)
    tls: dict[str, Any] = {}
    if parts.scheme == "rediss":
        tls = {"ssl": True, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        if config.ca_file is not None:
            tls["ssl_ca_certs"] = str(config.ca_file)
    password = config.key.get_secret_value() if config.key is not None else None
    # No socket_timeout (redis-py's default is 5 s): with one, it sends each command under
    # asyncio.wait_for, which in Python 3.11 can swallow a cancel that comes as the send ends,
    # and a caller that left would go on. The store bounds each call itself (``_bounded``).
    sockets: dict[str, Any] = {
        "socket_timeout": None,
        "socket_connect_timeout": config.timeout_s,
        "retry": Retry(NoBackoff(), 0),
        **tls,
    }
    host, port = parts.hostname or "localhost", parts.port or 6379
    server: dict[str, Any] = {
        "db": int(parts.path.lstrip("/") or 0),
        "username": config.username,
        "password": password,
        "client_name": "gptoss-router",
        **sockets,
    }
    if config.sentinel_master is None:
        return RedisStore(aioredis.Redis(host=host, port=port, **server), config)
    # The Sentinel is asked with the store's password and no user, as sentinels are run.
    sentinel = Sentinel([(host, port)], sentinel_kwargs={"password": password, **sockets})  # type: ignore[no-untyped-call]
    client = sentinel.master_for(config.sentinel_master, redis_class=aioredis.Redis, **server)
    return RedisStore(client, config, closing=sentinel.aclose)


async def wait_for_store(
    store: RedisStore, config: StoreConfig, *, sleep: Callable[[float], Awaitable[None]]
) -> None:
    """Ping until the store answers or ``startup_timeout_s`` passes (then ``ConfigError``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.startup_timeout_s
    while True:
        try:
            await store.ping()
            return
        except StoreFailed as err:
            if loop.time() >= deadline:
                raise ConfigError(
                    f"store.url: {config.where()} did not answer within "
                    f"{config.startup_timeout_s:g} s ({err})"
                ) from None
        await sleep(min(0.5, max(0.0, deadline - loop.time())))
