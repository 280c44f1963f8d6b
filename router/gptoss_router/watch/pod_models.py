"""Which LoRA adapters each local pod serves, read from its vLLM ``/v1/models``.

vLLM lists the base model first (``parent`` null) and then each adapter it has loaded, at
startup or at run time, with ``parent`` the base model's served name (``show_available_models``,
``vllm/entrypoints/openai/models/serving.py``). ``listed_adapters`` is pure;
``read_adapters`` is the thin I/O call. The result feeds ``ClusterState.served(listed=...)``:
a request for an adapter goes only to pods that list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

__all__ = ["listed_adapters", "read_adapters"]


def listed_adapters(body: Any) -> frozenset[str] | None:
    """The adapter ids in a ``/v1/models`` answer; None when it is not a model list."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        return None
    return frozenset(
        card["id"]
        for card in body["data"]
        if isinstance(card, Mapping) and card.get("parent") and isinstance(card.get("id"), str)
    )


async def read_adapters(
    session: aiohttp.ClientSession, url: str, limit_s: float
) -> frozenset[str] | None:
    """The adapters the pod at ``url`` lists; None when it does not answer with a model list."""
    try:
        async with session.get(
            f"{url}/v1/models", timeout=aiohttp.ClientTimeout(total=limit_s)
        ) as response:
            if response.status != 200:
                return None
            return listed_adapters(await response.json(content_type=None))
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
