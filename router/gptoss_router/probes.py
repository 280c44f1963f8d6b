"""Active health checks that bring ejected backends back (research §5: in Envoy a successful
active check un-ejects a host).

Local pods answer vLLM's ``GET /health`` (200, or 503 once the engine is dead, §4); providers
are asked ``GET /models`` with the router's key. Only ejected backends are probed.
"""

from __future__ import annotations

import asyncio

import httpx

from gptoss_router.registry import Registry

__all__ = ["probe_ejected", "probe_forever"]


async def probe_ejected(client: httpx.AsyncClient, registry: Registry, *, limit_s: float) -> None:
    """Probe every ejected backend once; readmit those that answer 200."""
    keys = registry.health.ejected()
    pods = {pod.url for pod in registry.pools}
    results = await asyncio.gather(
        *(_probe(client, registry, key, local=key in pods, limit_s=limit_s) for key in keys)
    )
    for key, healthy in zip(keys, results, strict=True):
        if healthy:
            registry.health.readmit(key)


async def probe_forever(
    client: httpx.AsyncClient, registry: Registry, *, interval_s: float
) -> None:
    """Probe ejected backends every ``interval_s`` until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        await probe_ejected(client, registry, limit_s=interval_s)


async def _probe(
    client: httpx.AsyncClient, registry: Registry, key: str, *, local: bool, limit_s: float
) -> bool:
    if local:
        url, headers = f"{key}/health", dict[str, str]()
    else:
        try:
            provider = registry.provider(key)
        except KeyError:
            return False
        url = f"{provider.base_url.rstrip('/')}/models"
        headers = dict[str, str]()
        if provider.key is not None:
            headers["authorization"] = f"Bearer {provider.key.get_secret_value()}"
    try:
        response = await client.get(url, headers=headers, timeout=limit_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
