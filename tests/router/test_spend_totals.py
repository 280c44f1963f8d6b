"""An app's spend adds up across router replicas exactly once: each replica sends its running
total per day and month, and the store adds only what grew. Checked on both stores (the
in-process one and a real redis-server), and against a Redis that applies a sync only after its
caller gave up on it."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from tests.router.live import eventually
from tests.router.router_fakes import sync_loop

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.apps import AppConfig
from gptoss_router.config.store import StoreConfig
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.state.redis_client import connect
from gptoss_router.state.store import Outgoing, SpendTotal, Store, spend_periods
from gptoss_router.state.store_health import StoreHealth

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
DAY, MONTH = spend_periods(NOW)


async def send(store: Store, replica: str, *totals: tuple[str, int]) -> tuple[int, int]:
    """``replica``'s running totals (period, micro-dollars) of app ``web``; the app's spend
    this day and month as the store answers."""
    spend = tuple(SpendTotal("web", period, micros) for period, micros in totals)
    incoming = await store.sync(Outgoing(replica, {}, spend, budget_apps=("web",)), NOW)
    return incoming.spend["web"]


async def test_a_total_sent_twice_counts_once(store: Store) -> None:
    assert await send(store, "r1", (DAY, 5_000), (MONTH, 5_000)) == (5_000, 5_000)
    assert await send(store, "r1", (DAY, 5_000), (MONTH, 5_000)) == (5_000, 5_000)


async def test_an_older_total_that_arrives_after_a_newer_one_takes_nothing_away(
    store: Store,
) -> None:
    assert await send(store, "r1", (DAY, 8_000), (MONTH, 8_000)) == (8_000, 8_000)
    assert await send(store, "r1", (DAY, 5_000), (MONTH, 5_000)) == (8_000, 8_000)


async def test_the_totals_of_several_replicas_add_up_and_grow_by_what_each_grew(
    store: Store,
) -> None:
    await send(store, "r1", (DAY, 5_000), (MONTH, 9_000))
    assert await send(store, "r2", (DAY, 3_000), (MONTH, 3_000)) == (8_000, 12_000)
    assert await send(store, "r1", (DAY, 6_000), (MONTH, 10_000)) == (9_000, 13_000)


class SlowAnswers:
    """A TCP relay to Redis that passes requests on at once and keeps the answers back while
    ``answering`` is clear: the store applies a sync whose caller gives up waiting for it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.answering = asyncio.Event()
        self.answering.set()
        self._relays: set[asyncio.Task[None]] = set()

    async def serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        answers = asyncio.ensure_future(self._pump(up_reader, writer, hold=True))
        self._relays.add(answers)
        try:
            await self._pump(reader, up_writer, hold=False)
        finally:
            answers.cancel()
            up_writer.close()
            writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool
    ) -> None:
        while data := await reader.read(65536):
            if hold:
                await self.answering.wait()
            writer.write(data)
            await writer.drain()


async def test_a_sync_the_store_applied_after_its_timeout_is_not_counted_twice(
    redis_server: RedisServer,
) -> None:
    """The store's answers are held back past the sync's timeout: the sync fails here though
    the store applied it. The next sync sends the same spend again; the app's total holds it
    once."""
    relay = SlowAnswers(redis_server.port)
    server = await relay.serve()
    port = server.sockets[0].getsockname()[1]
    config = StoreConfig(url=f"redis://127.0.0.1:{port}/0", key=SecretStr(redis_server.password))
    store = connect(config)
    admin = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    metrics = RouterMetrics(CollectorRegistry())
    app = AppConfig(name="web", key="k", limits={"dollars_per_day": 1.0})  # type: ignore[arg-type]
    clock = asyncio.get_running_loop().time
    health = StoreHealth(metrics, clock=clock)
    gate = Admission([app], store, health, metrics, config=config, replicas=lambda: 1)
    loop = sync_loop(store, gate, metrics, clock=clock)
    key = f"gptoss:spend:{{web}}:{spend_periods(loop.wall())[0]}"
    try:
        ticket = await gate.admit("web", 10)
        gate.settle(ticket, input_tokens=10, output_tokens=10, dollars=0.25)
        await store.ping()  # connected: the sync's pipeline goes out at once
        relay.answering.clear()
        assert not await loop.once()  # timed out: no answer came

        async def applied() -> bool:
            return await admin.get(key) is not None

        await eventually(applied, what="the store to apply the late sync", within=10.0)
        relay.answering.set()
        assert await loop.once()
        assert int(await admin.get(key) or 0) == 250_000
        # Spend after that goes on top, once.
        gate.settle(ticket, input_tokens=10, output_tokens=10, dollars=0.125)
        assert await loop.once()
        assert await loop.once()
        assert int(await admin.get(key) or 0) == 375_000
    finally:
        await admin.aclose()
        await store.close()
        server.close()
