"""Read each local pod's queue from its vLLM ``/metrics`` (docs/sources.md, vLLM metrics).

``parse_queue`` is pure; ``scrape_forever`` is the thin I/O loop that feeds ``LocalPools``.
The llm-d endpoint picker scrapes every 50 ms and treats 2 s old figures as stale; the
interval and staleness here come from ``Tuning``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from gptoss_router.state.pools import LocalPools, Pod, PodStats

__all__ = ["parse_queue", "scrape_forever", "scrape_once"]

log = logging.getLogger(__name__)
_WAITING = "vllm:num_requests_waiting"
_RUNNING = "vllm:num_requests_running"


def parse_queue(text: str) -> PodStats | None:
    """Waiting and running requests summed over label sets; None if the metrics are absent."""
    totals = {_WAITING: 0.0, _RUNNING: 0.0}
    seen = set()
    for line in text.splitlines():
        if not line.startswith("vllm:num_requests_"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in totals:
            continue
        try:
            totals[name] += float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        seen.add(name)
    if not seen:
        return None
    return PodStats(waiting=int(totals[_WAITING]), running=int(totals[_RUNNING]))


async def scrape_once(
    session: aiohttp.ClientSession, pools: LocalPools, pod: Pod, limit_s: float
) -> bool:
    """Scrape one pod; True if its figures were updated."""
    try:
        async with session.get(
            f"{pod.url}/metrics", timeout=aiohttp.ClientTimeout(total=limit_s)
        ) as response:
            if response.status != 200:
                return False
            text = await response.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError):
        return False
    stats = parse_queue(text)
    if stats is None:
        return False
    pools.record_stats(pod, stats)
    return True


async def scrape_forever(
    session: aiohttp.ClientSession,
    pools: LocalPools,
    *,
    interval_s: float,
    scraped: Callable[[Pod], bool],
) -> None:
    """Scrape every pod for which ``scraped(pod)`` holds, every ``interval_s``, until cancelled."""
    while True:
        pods = [pod for pod in pools if scraped(pod)]
        if pods:
            await asyncio.gather(*(scrape_once(session, pools, p, interval_s * 2) for p in pods))
        await asyncio.sleep(interval_s)
