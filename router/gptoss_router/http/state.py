"""What the app's lifespan builds and the routes read: one object on ``app.state.router``.

Its own module so that the app (which builds it) and the routes (which read it) both import it,
and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from gptoss_router.proxy.accounting import Shared
from gptoss_router.proxy.handler import Proxy
from gptoss_router.settings import RouterSettings
from gptoss_router.state.cancels import Cancels
from gptoss_router.state.event_logs import EventLogs
from gptoss_router.state.responses import ResponseRecords
from gptoss_router.state.store_health import StoreHealth

__all__ = ["State"]


@dataclass(slots=True)
class State:
    """What the lifespan built, shared by the route handlers through ``app.state.router``."""

    settings: RouterSettings
    shared: Shared
    proxy: Proxy
    started_at: int
    session: aiohttp.ClientSession
    store: StoreHealth
    records: ResponseRecords
    events: EventLogs  # of streamed background responses
    cancels: Cancels  # of background responses that other replicas run
