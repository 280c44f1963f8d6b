"""The liveness endpoint of a standby replica.

The leader's liveness endpoint is Kopf's (``--liveness``). A standby runs no Kopf, yet its pod
has the same probes, so it answers the same URL itself: 200 while its event loop runs, with
who holds the Lease. It stops before Kopf starts, which then binds the same address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["serving_liveness"]


@contextlib.asynccontextmanager
async def serving_liveness(url: str | None, holder: Callable[[], str]) -> AsyncIterator[None]:
    """Answer GETs on ``url`` (e.g. http://0.0.0.0:8080/healthz) while the block runs."""
    if url is None:
        yield
        return
    parts = urlsplit(url)

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"standby": True, "leader": holder()})

    app = web.Application()
    app.router.add_get(parts.path or "/", alive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname, parts.port or 80).start()
    try:
        yield
    finally:
        await runner.cleanup()
