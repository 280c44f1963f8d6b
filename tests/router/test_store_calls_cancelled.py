"""A store call cancelled before it ends (its client left, its router stops) ends cancelled: it
neither returns nor lets its caller go on as if nothing happened. In Python 3.11
``asyncio.wait_for`` returns the result of what it waits for when the cancel comes just as that
finishes, and redis-py sends each command under one when the client has a ``socket_timeout``;
the store's client has none, and bounds each call with ``asyncio.timeout`` instead."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.state.redis_client import connect


async def test_a_store_call_cancelled_at_any_point_ends_cancelled_and_never_returns(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(url=redis_server.url, key=SecretStr(redis_server.password), timeout_s=5)
    store = connect(config)
    cancelled = returned = 0
    try:
        for turns in range(16):  # the cancel lands after 0 to 15 turns of the event loop
            for _ in range(8):
                call = asyncio.create_task(store.get_document("gptoss-test"))
                for _ in range(turns):
                    await asyncio.sleep(0)
                if not call.cancel():  # it had ended already
                    await call
                    continue
                cancelled += 1
                try:
                    await call
                    returned += 1
                except asyncio.CancelledError:
                    pass
    finally:
        await store.close()
    assert cancelled > 0  # some cancels landed mid-call: the test tested something
    assert returned == 0, f"{returned} of {cancelled} cancelled calls returned as if not cancelled"
