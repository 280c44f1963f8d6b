"""App limits on one replica: windows, leases, budgets, and what happens when the store fails."""

from __future__ import annotations

import asyncio
import calendar
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tests.router.router_fakes import sync_loop

from gptoss_router.config.apps import AppConfig
from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import ConfigError, QuotaExceeded, RateLimited, StoreUnavailable
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission, format_reset
from gptoss_router.routing.leases import Lease
from gptoss_router.settings import load_settings
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.provider_limits import parse_duration
from gptoss_router.state.store import (
    Incoming,
    Outgoing,
    Store,
    StoreFailed,
    Taken,
    sliding_take,
    spend_periods,
)
from gptoss_router.state.store_health import StoreHealth

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC: 20 s before the minute ends


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BrokenStore(MemoryStore):
    """A store that has gone away."""

    async def take(self, name: str, limit: int, want: int, window_s: float, now: float) -> Taken:
        raise StoreFailed("ConnectionError: connection refused")

    async def sync(self, out: Outgoing, now: float) -> Incoming:
        raise StoreFailed("ConnectionError: connection refused")


def admission(
    limits: dict[str, object],
    *,
    store: MemoryStore | None = None,
    replicas: int = 1,
    clock: Clock | None = None,
) -> tuple[Admission, RouterMetrics]:
    metrics = RouterMetrics(CollectorRegistry())
    clock = clock or Clock()
    app = AppConfig(name="web", key="k", limits=limits)  # type: ignore[arg-type]
    health = StoreHealth(metrics, clock=clock, shared=store is not None)
    return (
        Admission(
            [app],
            store if store is not None else MemoryStore(),
            health,
            metrics,
            config=StoreConfig(url="redis://store:6379/0") if store is not None else None,
            replicas=lambda: replicas,
            wall=clock,
        ),
        metrics,
    )


async def read_spend(store: Store, now: float) -> tuple[int, int]:
    """App ``web``'s spend this day and month, as another replica reads it."""
    return (await store.sync(Outgoing("r2", {}, (), budget_apps=("web",)), now)).spend["web"]


def test_a_sliding_window_counts_the_previous_window_by_how_much_of_it_still_overlaps() -> None:
    # 15 s into the minute, 3/4 of the previous window still overlaps: 40 * 0.75 + 10 = 40 used.
    assert sliding_take(10, 40, 50, 20, 60.0, 60 * 100 + 15) == (10, 50)
    assert sliding_take(10, 40, 50, 5, 60.0, 60 * 100 + 15) == (5, 45)
    assert sliding_take(60, 0, 50, 1, 60.0, 60 * 100 + 15) == (0, 60)


def test_spend_is_kept_per_utc_day_and_calendar_month() -> None:
    assert spend_periods(NOW) == ("20261118", "202611")
    assert spend_periods(1_798_761_599.0) == ("20261231", "202612")
    assert spend_periods(1_798_761_600.0) == ("20270101", "202701")


@given(st.floats(min_value=0, max_value=86_400, allow_nan=False))
def test_reset_times_are_written_as_openai_writes_them_and_read_back(seconds: float) -> None:
    text = format_reset(seconds)
    back = parse_duration(text)
    assert back is not None and abs(back - seconds) <= 0.006


def test_a_store_url_with_a_password_is_refused_without_repeating_it(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text("store: {url: 'redis://:hunter2-very-secret@redis:6379/0'}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "hunter2" not in str(caught.value) and "store.key_file" in str(caught.value)
    config.write_text("store: {url: 'http://redis:6379'}\n")
    with pytest.raises(ConfigError, match=r"redis:// or rediss://"):
        load_settings(config)
    assert (
        StoreConfig(url="rediss://redis.example:6380/2").where() == "rediss://redis.example:6380/2"
    )


async def test_requests_past_the_limit_get_openais_429_with_rate_limit_headers() -> None:
    gate, metrics = admission({"requests_per_minute": 3})
    tickets = [await gate.admit("web", 10) for _ in range(3)]
    assert [t.headers["x-ratelimit-remaining-requests"] for t in tickets] == ["2", "1", "0"]
    assert tickets[0].headers["x-ratelimit-limit-requests"] == "3"
    assert parse_duration(tickets[0].headers["x-ratelimit-reset-requests"]) == pytest.approx(20)
    with pytest.raises(RateLimited) as caught:
        await gate.admit("web", 10)
    refused = caught.value
    assert refused.status == 429 and refused.code == "rate_limit_exceeded"
    assert refused.kind == "requests" and "Limit 3" in refused.message
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    sample = metrics.registry.get_sample_value
    assert (
        sample("gptoss_router_app_refusals_total", {"app": "web", "limit": "requests_per_minute"})
        == 1
    )


@pytest.mark.parametrize(
    ("limits", "tokens", "into"),
    [
        ({"requests_per_minute": 60}, 100, 0.5),
        ({"tokens_per_minute": 400_000}, 2_000, 0.2),
        ({"requests_per_minute": 600}, 100, 0.05),
    ],
)
async def test_a_lone_replica_admits_the_first_request_of_a_minute_after_a_quiet_one(
    limits: dict[str, object], tokens: int, into: float
) -> None:
    """A lone replica leases the whole limit; the units the last minute left unused go back to
    the store before the new minute takes, or the store, weighing the last minute into this
    one, would find the limit spent by units nobody used."""
    clock = Clock()
    gate, _ = admission(limits, clock=clock)
    for _ in range(10):
        ticket = await gate.admit("web", tokens)
        gate.settle(ticket, input_tokens=tokens // 2, output_tokens=tokens // 2, dollars=0.0)
    clock.now = NOW + 20.0 + into  # the next minute has just begun
    ticket = await gate.admit("web", tokens)
    kind, per = ("requests", 1) if "requests_per_minute" in limits else ("tokens", tokens)
    limit = int(str(next(iter(limits.values()))))
    # the last minute's ten, weighed by how much of it still overlaps, and this one
    used = 10 * per * (1 - into / 60) + per
    remaining = int(ticket.headers[f"x-ratelimit-remaining-{kind}"])
    assert remaining == pytest.approx(limit - used, abs=1)


async def test_tokens_reserved_on_admission_come_back_when_usage_is_lower() -> None:
    gate, _ = admission({"tokens_per_minute": 1000})
    first = await gate.admit("web", 600)
    with pytest.raises(RateLimited) as caught:
        await gate.admit("web", 600)
    assert caught.value.kind == "tokens"
    gate.settle(first, input_tokens=50, output_tokens=50, dollars=0.0)
    second = await gate.admit("web", 600)
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 1000 - 100 - 600


async def test_a_request_larger_than_the_token_limit_is_told_so() -> None:
    gate, _ = admission({"tokens_per_minute": 1000, "requests_per_minute": 5})
    with pytest.raises(RateLimited, match="Request too large"):
        await gate.admit("web", 4000)
    # The request it would have taken is handed back.
    ticket = await gate.admit("web", 10)
    assert ticket.headers["x-ratelimit-remaining-requests"] == "4"


@pytest.mark.parametrize("asked", [150_000, 70_000])
async def test_a_refused_request_leaves_the_rest_of_the_window_to_the_other_replicas(
    asked: int,
) -> None:
    """One replica refuses a request larger than the limit (or than what is left of it): it
    keeps no more than a lease of the window, and another replica still admits the app."""
    shared = MemoryStore()
    first, _ = admission({"tokens_per_minute": 100_000}, store=shared, replicas=2)
    second, _ = admission({"tokens_per_minute": 100_000}, store=shared, replicas=2)
    await second.admit("web", 40_000)
    with pytest.raises(RateLimited):
        await first.admit("web", asked)
    ticket = await second.admit("web", 45_000)
    assert int(ticket.headers["x-ratelimit-remaining-tokens"]) >= 0


async def test_a_spent_daily_budget_refuses_with_insufficient_quota_until_midnight() -> None:
    clock = Clock()
    store = MemoryStore()
    gate, metrics = admission({"dollars_per_day": 0.01}, store=store, clock=clock)
    ticket = await gate.admit("web", 10)
    gate.settle(ticket, input_tokens=10, output_tokens=10, dollars=0.004)
    await gate.admit("web", 10)  # $0.004 < $0.01
    gate.settle(ticket, input_tokens=10, output_tokens=10, dollars=0.007)
    with pytest.raises(QuotaExceeded) as caught:
        await gate.admit("web", 10)
    assert caught.value.code == "insufficient_quota" and caught.value.kind == "insufficient_quota"
    midnight = math.ceil(86400 - NOW % 86400)
    assert caught.value.headers["retry-after"] == str(midnight)
    # What was spent here reaches the store, and comes back as the total the replicas share.
    assert await sync_loop(store, gate, metrics, clock=clock, wall=clock).once()
    assert await read_spend(store, clock.now) == (11_000, 11_000)
    with pytest.raises(QuotaExceeded):
        await gate.admit("web", 10)
    clock.now += midnight  # a new UTC day
    await gate.admit("web", 10)


async def test_every_refusal_carries_the_headers_of_every_per_minute_limit() -> None:
    """OpenAI's answers carry each limit's x-ratelimit headers, refusals included: a client
    pacing itself by them sees where every limit stands on the answers where it matters."""
    clock = Clock()
    limits = {"requests_per_minute": 2, "tokens_per_minute": 1000, "dollars_per_day": 0.01}
    gate, _ = admission(limits, clock=clock)
    first = await gate.admit("web", 100)
    gate.settle(first, input_tokens=50, output_tokens=50, dollars=0.0)
    await gate.admit("web", 100)
    with pytest.raises(RateLimited) as over_requests:
        await gate.admit("web", 100)
    said = over_requests.value.headers
    assert said["x-ratelimit-remaining-requests"] == "0"
    assert said["x-ratelimit-limit-tokens"] == "1000"
    assert int(said["x-ratelimit-remaining-tokens"]) == 1000 - 100 - 100
    gate.settle(first, input_tokens=10, output_tokens=10, dollars=0.02)
    clock.now += 60.0  # a new minute: the budget, not the minute, refuses
    with pytest.raises(QuotaExceeded) as over_budget:
        await gate.admit("web", 100)
    said = over_budget.value.headers
    assert said["retry-after"] == str(math.ceil(86400 - clock.now % 86400))
    assert said["x-ratelimit-limit-requests"] == "2"
    assert said["x-ratelimit-limit-tokens"] == "1000"
    assert "x-ratelimit-reset-tokens" in said and "x-ratelimit-remaining-requests" in said


async def test_spend_on_its_way_to_the_store_still_counts_against_the_budget_and_once() -> None:
    """A sync the store applied but answered too late (a timeout) is sent again; meanwhile its
    spend still counts here, and the store counts it once."""

    class Late(MemoryStore):
        late = True

        async def sync(self, out: Outgoing, now: float) -> Incoming:
            answer = await super().sync(out, now)
            if self.late:
                raise StoreFailed("TimeoutError: no answer within 0.25 s")
            return answer

    clock, store = Clock(), Late()
    gate, metrics = admission({"dollars_per_day": 0.01}, store=store, clock=clock)
    loop = sync_loop(store, gate, metrics, clock=clock, wall=clock)
    ticket = await gate.admit("web", 10)
    gate.settle(ticket, input_tokens=10, output_tokens=10, dollars=0.011)
    assert not await loop.once()
    with pytest.raises(QuotaExceeded):
        await gate.admit("web", 10)
    assert not await loop.once()  # sent again, and late again
    store.late = False
    assert await loop.once()
    assert await read_spend(store, clock.now) == (11_000, 11_000)
    with pytest.raises(QuotaExceeded) as caught:
        await gate.admit("web", 10)
    assert "($0.0110)" in str(caught.value)


async def test_a_limit_that_fails_closed_refuses_with_503_while_the_store_is_down() -> None:
    gate, metrics = admission(
        {"requests_per_minute": 100, "on_store_loss": "closed"}, store=BrokenStore()
    )
    with pytest.raises(StoreUnavailable) as caught:
        await gate.admit("web", 10)
    assert caught.value.status == 503 and caught.value.headers == {"retry-after": "1"}
    assert metrics.registry.get_sample_value("gptoss_router_store_up") == 0


async def test_a_limit_that_fails_open_keeps_this_replicas_share_while_the_store_is_down() -> None:
    gate, _ = admission({"requests_per_minute": 9}, store=BrokenStore(), replicas=3)
    for _ in range(3):
        await gate.admit("web", 1)
    with pytest.raises(RateLimited):
        await gate.admit("web", 1)


async def test_an_app_without_limits_is_admitted_without_touching_the_store() -> None:
    gate, metrics = admission({}, store=BrokenStore())
    ticket = await gate.admit("web", 10)
    assert ticket.headers == {}
    assert metrics.registry.get_sample_value("gptoss_router_store_up") == 1


async def test_totals_read_just_before_midnight_count_for_that_day_though_they_arrive_after() -> (
    None
):
    """A sync sent at 23:59:59.9 whose answer comes at 00:00:00.1 brings the day that ended's
    spend: the new day's budget is whole."""
    midnight = calendar.timegm((2026, 11, 19, 0, 0, 0))
    clock = Clock(midnight - 3600.0)

    class Slow(MemoryStore):
        latency = 0.0

        async def sync(self, out: Outgoing, now: float) -> Incoming:
            answer = await super().sync(out, now)
            clock.now += self.latency
            return answer

    store = Slow()
    gate, metrics = admission({"dollars_per_day": 10.0}, store=store, clock=clock)
    sync = sync_loop(store, gate, metrics, clock=clock, wall=clock)
    ticket = await gate.admit("web", 1)
    gate.settle(ticket, input_tokens=1, output_tokens=1, dollars=10.0)
    assert await sync.once()
    clock.now, store.latency = midnight - 0.1, 0.2
    assert await sync.once()
    clock.now = midnight + 0.15
    assert await gate.admit("web", 1) is not None


async def test_units_lent_by_the_fallback_are_not_given_back_to_the_store() -> None:
    """While the store was down a replica admitted 40,000 tokens from its own share; the store
    came back before the minute turned, and the request used none. The store's count of that
    minute keeps what the other replica used through it."""

    class Flaky(MemoryStore):
        down = False

        async def take(
            self, name: str, limit: int, want: int, window_s: float, now: float
        ) -> Taken:
            if self.down:
                raise StoreFailed("ConnectionError: connection refused")
            return await super().take(name, limit, want, window_s, now)

    store, clock = Flaky(), Clock(0.0)
    metrics = RouterMetrics(CollectorRegistry())
    tasks: list[asyncio.Task[None]] = []

    def lease() -> Lease:
        return Lease(
            "web:tpm",
            100_000,
            window_s=60.0,
            fraction=0.02,
            store=store,
            health=StoreHealth(metrics, clock=clock),
            fallback=MemoryStore(),
            replicas=lambda: 2,
            spawn=lambda work: tasks.append(asyncio.ensure_future(work)),
        )

    first, second = lease(), lease()
    assert (await second.acquire(60_000, 1.0, fail_open=True)).ok  # type: ignore[union-attr]
    store.down = True
    lent = await first.acquire(40_000, 10.0, fail_open=True)
    assert lent is not None and lent.ok
    store.down, clock.now = False, 5.0  # back, and past the health's pause
    first.settle(lent.window, 40_000, 0)
    await first.acquire(1, 61.0, fail_open=True)  # the minute turns: first gives back its units
    await asyncio.gather(*tasks)
    counted = await store.take("web:tpm", 100_000, 0, 60.0, 59.0)
    assert counted.used >= 60_000


async def test_units_a_take_got_for_a_minute_that_ended_meanwhile_stay_in_that_minute() -> None:
    """A request at 59.999 s waits for the store; one at 60.001 s moves the lease to the next
    minute meanwhile. The first one's units were counted in minute 0: they cover it there and
    never join minute 1's lease, so minute 1 admits no more than the limit."""
    received, answer = asyncio.Event(), asyncio.Event()

    class Late(MemoryStore):
        hold = True

        async def take(
            self, name: str, limit: int, want: int, window_s: float, now: float
        ) -> Taken:
            taken = await super().take(name, limit, want, window_s, now)
            if self.hold:
                self.hold = False
                received.set()
                await answer.wait()
            return taken

    store, metrics = Late(), RouterMetrics(CollectorRegistry())
    tasks: list[asyncio.Future[None]] = []

    def lease() -> Lease:
        return Lease(
            "web:tpm",
            100,
            window_s=60.0,
            fraction=0.5,
            store=store,
            health=StoreHealth(metrics, clock=Clock(0.0)),
            fallback=MemoryStore(),
            replicas=lambda: 2,
            spawn=lambda work: tasks.append(asyncio.ensure_future(work)),
        )

    first, second = lease(), lease()
    late = asyncio.ensure_future(first.acquire(10, 59.999, fail_open=True))
    await received.wait()
    admitted = 0
    for replica in (first, second):
        while (granted := await replica.acquire(1, 119.9, fail_open=True)) and granted.ok:
            admitted += 1
    answer.set()
    earlier = await late
    await asyncio.gather(*tasks)
    assert earlier is not None and earlier.ok and earlier.window == 0
    for replica in (first, second):
        while (granted := await replica.acquire(1, 119.9, fail_open=True)) and granted.ok:
            admitted += 1
    assert admitted <= 100


def _one_replicas_lease(
    store: MemoryStore, limit: int, *, fraction: float, tasks: list[asyncio.Future[None]]
) -> Lease:
    """The tokens-per-minute lease of the only router replica, its background work in
    ``tasks``."""
    metrics = RouterMetrics(CollectorRegistry())
    return Lease(
        "web:tpm",
        limit,
        window_s=60.0,
        fraction=fraction,
        store=store,
        health=StoreHealth(metrics, clock=Clock(0.0)),
        fallback=MemoryStore(),
        replicas=lambda: 1,
        spawn=lambda work: tasks.append(asyncio.ensure_future(work)),
    )


async def test_a_time_read_before_the_lease_moved_on_counts_in_the_new_minute() -> None:
    """A request read the time at 59.99 s, then waited (for its requests lease) while another
    moved the tokens lease to minute 1: its tokens count in minute 1, not in the minute that
    ended, and the lease does not go back."""
    store, tasks = MemoryStore(), list[asyncio.Future[None]]()
    lease = _one_replicas_lease(store, 100, fraction=0.1, tasks=tasks)
    moved = await lease.acquire(1, 60.01, fail_open=True)
    stale = await lease.acquire(50, 59.99, fail_open=True)
    await asyncio.gather(*tasks)
    assert moved is not None and stale is not None
    assert moved.window == stale.window == 1
    minute_1 = await store.take("web:tpm", 100, 0, 60.0, 61.0)
    assert minute_1.used >= 51


async def test_tokens_used_past_a_reservation_while_the_store_is_down_count_in_the_share() -> None:
    """With the store down a replica admits from its own share of the limit; a request that
    used more than it reserved takes the rest from that share too, so the outage does not let
    an app past its tokens per minute."""

    class Down(MemoryStore):
        async def take(
            self, name: str, limit: int, want: int, window_s: float, now: float
        ) -> Taken:
            raise StoreFailed("ConnectionError: connection refused")

        async def charge(self, name: str, amount: int, window_s: float, window: int) -> None:
            raise StoreFailed("ConnectionError: connection refused")

    tasks = list[asyncio.Future[None]]()
    lease = _one_replicas_lease(Down(), 1000, fraction=0.01, tasks=tasks)
    first = await lease.acquire(100, 1.0, fail_open=True)
    assert first is not None and first.ok
    lease.settle(first.window, 100, 900)  # reserved 100, used 900
    await asyncio.gather(*tasks)
    second = await lease.acquire(200, 2.0, fail_open=True)
    assert second is not None and not second.ok  # 900 of 1000 used: 200 more would pass it
