"""Warming a new local pod's prefix cache before it takes traffic.

When discovery adds a pod to a model whose requests share hot beginnings
(``state.hot_prefixes``), the pod starts ``warming``: routing leaves it out (``PodView.fresh``
is false) while this loop sends it one request per hot beginning, all at once (vLLM batches
them): a chat one with ``max_tokens`` 1, or for a beginning of Responses requests a
``/v1/responses`` one with ``max_output_tokens`` 1, since vLLM renders those through its own
harmony code into other tokens. Each goes through ``outbound_body`` as the app's requests do, so
the pod renders what they will render (the effort mapped to gpt-oss's, the instructions moved
where vLLM 0.17 renders them). When they are answered, or after ``tuning.warm_timeout_s`` whatever
they did, the pod is ``warmed`` and takes traffic, the conversations the hash ring moves to it
finding their system prompt and tools already in its cache. A pod that fails a warm-up is let
in all the same: the warm-up is a saving, never a condition.

``warmup`` is pure; ``warm_forever`` is the thin I/O loop. It wakes on every pool change
(the same ``Wakeup`` held requests use), so a pod waits for nothing but its own warm-ups.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from gptoss_router.config.providers import ProviderKind
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.dialects import Dialect, dialect_for
from gptoss_router.openai.inbound import inbound_of
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.routing.backends import Backends
from gptoss_router.state.hot_prefixes import Head
from gptoss_router.state.pools import Pod

__all__ = ["warm_forever", "warm_pod", "warmup"]

log = logging.getLogger(__name__)
_IDLE_S = 5.0  # a pool change wakes the loop; this only bounds a missed one
# Something for the template to open the reply after: the cached blocks are those before it,
# which every real request of the app shares.
_TAIL = {"role": "user", "content": "."}
_PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def warmup(head: Head, served_model: str, dialect: Dialect) -> tuple[str, bytes]:
    """The path and body of a request that makes a pod (of ``dialect``) compute and cache
    ``head`` (``hot_prefixes``) and generate one token."""
    if head.route == "responses":
        body = _body(head.fields, "input", served_model)
        body["input"].append({"type": "message", **_TAIL})
        body |= {"max_output_tokens": 1, "store": False}
    else:
        body = _body(head.fields, "messages", served_model)
        body["messages"].append(_TAIL)
        body["max_tokens"] = 1
    raw = json.dumps(body, separators=(",", ":")).encode()
    inbound = inbound_of(head.route, body, len(raw))
    return _PATHS[head.route], outbound_body(inbound, raw, model_id=served_model, dialect=dialect)


def _body(fields: Mapping[str, Any], items: str, served_model: str) -> dict[str, Any]:
    body = {name: value for name, value in fields.items() if name != items}
    return body | {"model": served_model, items: list(fields[items]), "stream": False}


async def warm_pod(
    session: aiohttp.ClientSession,
    pod: Pod,
    heads: list[Head],
    *,
    timeout_s: float,
) -> tuple[int, int]:
    """Send ``pod`` (a vLLM pod) one warm-up per head, within ``timeout_s`` in all:
    (answered, failed)."""
    spoken = dialect_for(ProviderKind.VLLM)

    async def one(head: Head) -> bool:
        path, body = warmup(head, pod.served_model, spoken)
        async with session.post(
            f"{pod.url}{path}", data=body, headers={"content-type": "application/json"}
        ) as response:
            await response.read()
            return response.status == 200

    tasks = [asyncio.ensure_future(one(head)) for head in heads]
    if not tasks:
        return 0, 0
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answered = sum(1 for t in done if not t.cancelled() and t.exception() is None and t.result())
    return answered, len(tasks) - answered


async def warm_forever(
    session: aiohttp.ClientSession,
    backends: Backends,
    metrics: RouterMetrics,
    *,
    most: int,
    timeout_s: float,
) -> None:
    """Warm every pod that joins ``warming``, then let it in; until cancelled."""
    # by (model, URL): a pod that serves a base model and its adapters is one URL in several
    # pools, each warmed with its own heads, at the same time
    running: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def warm(pod: Pod) -> None:
        started = time.monotonic()
        try:
            heads = backends.hot.hottest(pod.model, most)
            answered, failed = await warm_pod(session, pod, heads, timeout_s=timeout_s)
            metrics.prefix_warmups.labels(pod.model, "ok").inc(answered)
            metrics.prefix_warmups.labels(pod.model, "failed").inc(failed)
            log.info(
                "pod %s of %s warmed with %d of %d hot prefixes in %.2f s",
                pod.url,
                pod.model,
                answered,
                len(heads),
                time.monotonic() - started,
            )
        finally:
            backends.pools.warmed(pod)

    try:
        while True:
            changed = asyncio.ensure_future(backends.wakeup.event().wait())
            for done in [key for key, task in running.items() if task.done()]:
                del running[done]
            for pod in backends.pools:
                if pod.warming and (pod.model, pod.url) not in running:
                    running[(pod.model, pod.url)] = asyncio.create_task(warm(pod))
            try:
                await asyncio.wait({changed}, timeout=_IDLE_S)
            finally:
                changed.cancel()
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
