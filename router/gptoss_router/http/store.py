"""Opening and closing the state store for the app's lifespan.

Without ``store`` in the settings, state lives in this process (``MemoryStore``): right for a
single replica. With it, the router connects to Redis and waits up to ``startup_timeout_s`` for
an answer; a store that never answers, or refuses the password, stops the start-up with a
message that names the setting (and never the password).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from gptoss_router.metrics import RouterMetrics
from gptoss_router.settings import RouterSettings
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.redis_client import connect, wait_for_store
from gptoss_router.state.store import Store
from gptoss_router.state.store_health import StoreHealth

__all__ = ["open_store"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_store(
    settings: RouterSettings, metrics: RouterMetrics, clock: Callable[[], float]
) -> AsyncIterator[tuple[Store, StoreHealth]]:
    """The store and its health, for as long as the app runs."""
    config = settings.store
    if config is None:
        log.info("state store: in this process (one replica; configure store for several)")
        yield MemoryStore(), StoreHealth(metrics, clock=clock, shared=False)
        return
    store = connect(config)
    try:
        await wait_for_store(store, config, sleep=asyncio.sleep)
    except BaseException:
        await store.close()
        raise
    log.info("state store: %s", config.where())
    try:
        yield store, StoreHealth(metrics, clock=clock)
    finally:
        await store.close()
