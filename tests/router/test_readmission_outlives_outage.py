"""A backend an active check brought back stays back when the store blinks: the readmission
goes with every sync until one reaches the store, so the bench another replica left there is
lifted rather than read back and applied again."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from tests.router.router_fakes import sync_loop

from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import Bench, Incoming, Outgoing, StoreFailed
from gptoss_router.state.store_health import StoreHealth

POD = "http://pod-a.test:8000"


class Blinking(MemoryStore):
    """A store whose syncs fail while ``down``."""

    down = False

    async def sync(self, out: Outgoing, now: float) -> Incoming:
        if self.down:
            raise StoreFailed("ConnectionError: the store went away")
        return await super().sync(out, now)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_readmission_made_while_the_store_is_down_lifts_the_shared_bench_later() -> None:
    store, clock = Blinking(), Clock()
    metrics = RouterMetrics(CollectorRegistry())
    health = StoreHealth(metrics, clock=clock)
    gate = Admission([], store, health, metrics, config=None, replicas=lambda: 1)
    loop = sync_loop(store, gate, metrics, clock=clock, wall=lambda: 1.7e9 + clock.now)
    wall = 1.7e9 + clock.now
    # another replica ejected the pod for a minute
    await store.sync(Outgoing("r2", {}, (), benches=(Bench("ejected", POD, wall + 60),)), wall)
    assert await loop.once()
    outliers = loop.backends.health
    assert outliers.is_ejected(POD)  # held out here too
    assert outliers.readmit(POD)  # this replica's active check passed: back at once
    store.down = True
    assert not await loop.once()  # the readmission did not reach the store
    store.down = False
    clock.now += 1.0
    assert await loop.once()
    assert not outliers.is_ejected(POD)  # not ejected again by the bench read back
    assert await loop.once() and not outliers.is_ejected(POD)
