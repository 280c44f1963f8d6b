"""What following a background response's log from another replica costs: how late each event
reaches a replay, and how many store reads the replays make, woken by the store's pub/sub
(``state/bells.py``, ``redis_bells.py``) against reading it on a timer every 0.25 s (how
replays followed before), on a real ``redis-server`` on loopback.

    .venv/bin/python bench/replay_follow.py [--followers 50] [--events 200] [--every-ms 100]
        [--pause-s 10]

One store client (the replica running the response) appends an entry to one log every
``--every-ms`` (the router's flush period), ``--events`` times, pausing ``--pause-s`` halfway
(a model writing a long tool call, or thinking). ``--followers`` replays, on a
second client (another replica), follow the log the way ``http/replay.py`` does: read what is
new, and when nothing is, wait (for the bell, at most ``tuning.replay_poll_s`` = 1 s; or on
the timer, 0.25 s). Each entry carries the time it was appended; a follower's lag is the time
from then until it read it. The store's reads of the log (``LRANGE``) are counted by the
server (``INFO commandstats``). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.processes import percentile  # noqa: E402

from gptoss_localkube.redis_server import RedisServer, ensure_redis  # noqa: E402
from gptoss_router.config.store import StoreConfig  # noqa: E402
from gptoss_router.state.redis_client import connect  # noqa: E402
from gptoss_router.state.redis_store import RedisStore  # noqa: E402

LOG = "events:bench:resp_follow"
TIMER_S = 0.25  # how often a replay read the store before the bells
FALLBACK_S = 1.0  # tuning.replay_poll_s: the longest a replay waits for a bell
_BATCH = 512  # entries read at once, as http/replay.py reads them


async def _follow(store: RedisStore, events: int, *, bells: bool) -> list[float]:
    """One replay's lag for each event, in seconds."""
    if not bells:  # the loop as it was: read until nothing is new, then sleep
        return await _read(store, events, lambda: asyncio.sleep(TIMER_S), until_empty=True)
    async with store.watch_log(LOG) as bell:  # as http/replay.py: a short batch is all there is
        return await _read(store, events, lambda: bell.wait(FALLBACK_S), until_empty=False)


Wait = Callable[[], Awaitable[object]]


async def _read(store: RedisStore, events: int, wait: Wait, *, until_empty: bool) -> list[float]:
    """Read the log to its ``events``-th entry, calling ``wait`` once all there is was read."""
    lags: list[float] = []
    index = 0
    while True:
        batch = await store.read_log(LOG, index, _BATCH)
        now = time.time()
        lags.extend(now - float(kept.decode()) for kept in batch)
        index += len(batch)
        if index >= events:
            return lags
        if not batch or (not until_empty and len(batch) < _BATCH):
            await wait()


async def _append(store: RedisStore, events: int, every_s: float, pause_s: float) -> None:
    """``events`` appends ``every_s`` apart, with a pause of ``pause_s`` halfway (a model
    writing a long tool call, or thinking)."""
    for n in range(events):
        await asyncio.sleep(pause_s if n == events // 2 else every_s)
        await store.append_log(LOG, [repr(time.time()).encode()], 600)


async def _lranges(server: RedisServer) -> int:
    """The server's count of ``LRANGE`` calls so far."""
    admin = aioredis.Redis.from_url(server.url, password=server.password)
    try:
        stats = await admin.info("commandstats")
    finally:
        await admin.aclose()
    return int(stats.get("cmdstat_lrange", {}).get("calls", 0))


async def _case(server: RedisServer, args: argparse.Namespace, *, bells: bool) -> list[str]:
    config = StoreConfig(url=server.url, key=SecretStr(server.password))
    writer, reader = connect(config), connect(config)
    try:
        await writer.delete_log(LOG)
        before = await _lranges(server)
        started = time.perf_counter()
        follows = [
            asyncio.create_task(_follow(reader, args.events, bells=bells))
            for _ in range(args.followers)
        ]
        await asyncio.sleep(0.2)  # every follower subscribed before the first append
        await _append(writer, args.events, args.every_ms / 1000, args.pause_s)
        lags = [lag for lagged in await asyncio.gather(*follows) for lag in lagged]
        seconds = time.perf_counter() - started
        reads = await _lranges(server) - before
    finally:
        await writer.close()
        await reader.close()
    ms = sorted(lag * 1000 for lag in lags)
    per_replay = reads / args.followers
    return [
        "pub/sub bells" if bells else f"timer {TIMER_S:g} s",
        f"{sum(ms) / len(ms):.1f}",
        f"{percentile(ms, 0.5):.1f}",
        f"{percentile(ms, 0.99):.1f}",
        f"{max(ms):.1f}",
        f"{per_replay:.0f}",
        f"{per_replay / seconds:.1f}",
    ]


async def main(args: argparse.Namespace) -> None:
    with RedisServer(binary=ensure_redis()) as server:
        rows = [await _case(server, args, bells=bells) for bells in (False, True)]
    print(
        f"{args.followers} replays on one replica follow a log appended every "
        f"{args.every_ms} ms, {args.events} times with a pause of {args.pause_s:g} s halfway, "
        "on another (Redis on loopback)"
    )
    head = ["replays woken by", "lag mean ms", "p50", "p99", "max", "reads per replay", "per s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=50)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--every-ms", type=int, default=100)
    parser.add_argument("--pause-s", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
