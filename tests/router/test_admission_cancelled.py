"""An admission that ends while it reserves its tokens (its task cancelled, or the store call
broken by a bug) gives back the request it already took, as a refused one does."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from gptoss_router.config.apps import AppConfig
from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import RateLimited
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import Taken
from gptoss_router.state.store_health import StoreHealth

pytestmark = pytest.mark.timeout(30)

NOW = 1_795_000_000.0  # 20 s before the minute ends


class StuckTokens(MemoryStore):
    """A store whose first token take hangs (a slow store call), or raises ``fails``."""

    def __init__(self, fails: Exception | None = None) -> None:
        super().__init__()
        self.taking = asyncio.Event()
        self._first = True
        self._fails = fails

    async def take(self, name: str, limit: int, want: int, window_s: float, now: float) -> Taken:
        if name.endswith(":tpm") and self._first:
            self._first = False
            if self._fails is not None:
                raise self._fails
            self.taking.set()
            await asyncio.Event().wait()
        return await super().take(name, limit, want, window_s, now)


def one_request_a_minute(store: MemoryStore) -> Admission:
    metrics = RouterMetrics(CollectorRegistry())
    app = AppConfig(
        name="web",
        key="k",
        limits={"requests_per_minute": 1, "tokens_per_minute": 10_000},  # type: ignore[arg-type]
    )
    return Admission(
        [app],
        store,
        StoreHealth(metrics, clock=lambda: NOW, shared=True),
        metrics,
        config=StoreConfig(url="redis://store:6379/0"),
        replicas=lambda: 1,
        wall=lambda: NOW,
    )


async def test_a_refused_token_reservation_leaves_the_request_for_the_next_one() -> None:
    admission = one_request_a_minute(MemoryStore())
    with pytest.raises(RateLimited):
        await admission.admit("web", 20_000)  # more tokens than the limit
    ticket = await admission.admit("web", 100)
    assert ticket.headers["x-ratelimit-remaining-requests"] == "0"


async def test_an_admission_cancelled_while_reserving_tokens_leaves_the_request() -> None:
    store = StuckTokens()
    admission = one_request_a_minute(store)
    admitting = asyncio.create_task(admission.admit("web", 100))
    await store.taking.wait()  # it took the minute's one request and waits for its tokens
    admitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await admitting
    ticket = await admission.admit("web", 100)
    assert ticket.headers["x-ratelimit-remaining-requests"] == "0"


async def test_an_admission_whose_token_reservation_raised_leaves_the_request() -> None:
    admission = one_request_a_minute(StuckTokens(fails=RuntimeError("a bug in the store client")))
    with pytest.raises(RuntimeError, match="a bug in the store client"):
        await admission.admit("web", 100)
    ticket = await admission.admit("web", 100)
    assert ticket.headers["x-ratelimit-remaining-requests"] == "0"
