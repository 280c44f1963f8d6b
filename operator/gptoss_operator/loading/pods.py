"""The HTTP seam to each vLLM pod: ``GET /v1/models`` and ``POST /v1/load_lora_adapter`` /
``/v1/unload_lora_adapter`` (``vllm/entrypoints/serve/lora/api_router.py``: 200 with a plain
text "Success: ..." body, or vLLM's error envelope with the error's code)."""

from __future__ import annotations

import httpx

from gptoss_operator.loading.decide import Change, listed_adapters

__all__ = ["LOAD_TIMEOUT_S", "apply_change", "read_adapters"]

# vLLM answers a load once the adapter is read (downloaded first for a Hugging Face id).
LOAD_TIMEOUT_S = 300.0


async def read_adapters(http: httpx.AsyncClient, url: str) -> dict[str, str] | None:
    """What the pod at ``url`` lists (adapter -> path); None when it cannot be read."""
    try:
        response = await http.get(f"{url}/v1/models")
        if response.status_code != 200:
            return None
        return listed_adapters(response.json())
    except (httpx.HTTPError, ValueError):
        return None


async def apply_change(http: httpx.AsyncClient, change: Change) -> str | None:
    """Make one call; None when vLLM took it, else why not (vLLM's message, or the error)."""
    path = "/v1/load_lora_adapter" if change.op == "load" else "/v1/unload_lora_adapter"
    try:
        response = await http.post(
            f"{change.url}{path}", json=change.body(), timeout=LOAD_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code == 200:
        return None
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    return f"{response.status_code} {message}"
