"""Active health checks that bring ejected backends back (in Envoy a successful active check
un-ejects a host: Envoy outlier detection docs; docs/sources.md, Failover).

Local pods answer vLLM's ``GET /health`` (200, or 503 once the engine is dead: docs/sources.md,
vLLM metrics); providers are asked ``GET /models`` with the router's key. Only ejected backends
are probed.
"""

from __future__ import annotations

import asyncio

import aiohttp

from gptoss_router.routing.backends import Backends

__all__ = ["probe_ejected", "probe_forever"]


async def probe_ejected(
    session: aiohttp.ClientSession, backends: Backends, *, limit_s: float
) -> None:
    """Probe every ejected backend once; readmit those that answer 200."""
    keys = backends.health.ejected()
    pods = {pod.url for pod in backends.pools}
    results = await asyncio.gather(
        *(_probe(session, backends, key, local=key in pods, limit_s=limit_s) for key in keys)
    )
    healthy = [key for key, ok in zip(keys, results, strict=True) if ok]
    readmitted = [key for key in healthy if backends.health.readmit(key)]
    if readmitted:
        backends.wakeup.fire()


async def probe_forever(
    session: aiohttp.ClientSession, backends: Backends, *, interval_s: float
) -> None:
    """Probe ejected backends every ``interval_s`` until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        await probe_ejected(session, backends, limit_s=interval_s)


async def _probe(
    session: aiohttp.ClientSession, backends: Backends, key: str, *, local: bool, limit_s: float
) -> bool:
    if local:
        url, headers = f"{key}/health", dict[str, str]()
    else:
        try:
            provider = backends.provider(key)
        except KeyError:
            return False
        url = f"{provider.base_url.rstrip('/')}/models"
        headers = dict[str, str]()
        if provider.key is not None:
            headers["authorization"] = f"Bearer {provider.key.get_secret_value()}"
    try:
        async with session.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=limit_s)
        ) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False
