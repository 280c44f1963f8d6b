"""The shared store going away under load and coming back, and the checks a router makes of its
store and apps before it starts (the fleet in ``shared_fleet.py``)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import openai
import pytest
from live import eventually, fleet
from router_processes import RouterProcess, run_until_exit
from shared_fleet import (
    LOCAL,
    STORE_KEY_ENV,
    Keys,
    Outcome,
    app,
    ask,
    clients,
    pods_scraped,
    router_config,
    sliding_allowance,
    started_routers,
    store_state,
    wait_for,
)

from gptoss_localkube.redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)


# -- 5. the store goes away under load and comes back ----------------------------------------


@dataclass
class Load:
    """Clients sending back to back until ``stop`` is set, and what they saw."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    seen: dict[str, list[Outcome]] = field(default_factory=dict)

    async def run(self, app_name: str, client: openai.AsyncOpenAI, router: int) -> None:
        seen = self.seen.setdefault(app_name, [])
        while not self.stop.is_set():
            seen.append(await ask(client, router, headers=LOCAL))

    def count(self, app_name: str, since: float, *, status: int, router: int) -> int:
        return sum(
            o.started >= since and o.status == status and o.router == router
            for o in self.seen.get(app_name, [])
        )

    def between(self, app_name: str, start: float, end: float) -> list[Outcome]:
        return [o for o in self.seen.get(app_name, []) if o.started >= start and o.ended <= end]


async def test_a_store_outage_under_load_keeps_fail_open_apps_served_and_fail_closed_apps_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """``open`` has a large limit that fails open, ``closed`` one that fails closed; leases of one
    unit (lease_fraction 1e-4) so that ``closed`` holds no unit it could spend while the store
    is down. Dollar budgets follow on_store_loss too: ``budget-closed`` is refused, and each
    router lets ``budget-open`` spend only its third of what was left (local tokens have a price
    here). ``small`` (6 a minute) shows the shared limit back once the store is."""
    keys = Keys()
    small, budget = 6, 0.3
    price = (500.0, 1000.0)  # dollars per million local tokens: about $0.02 a request
    apps = [
        app(keys, "open", requests_per_minute=1_000_000),
        app(keys, "closed", requests_per_minute=10_000, on_store_loss="closed"),
        app(keys, "small", requests_per_minute=small),
        app(keys, "budget-closed", dollars_per_day=100.0, on_store_loss="closed"),
        app(keys, "budget-open", dollars_per_day=budget),
    ]
    names = ("open", "closed", "small", "budget-closed", "budget-open")
    with fleet() as sims:
        config = router_config(
            sims,
            keys,
            store=redis_server,
            apps=apps,
            store_options={"lease_fraction": 1e-4},
            local_price=price,
        )
        with started_routers([config] * 3, tmp_path, keys) as routers:
            await wait_for(pods_scraped(routers), what="the routers to scrape the pod", within=10)
            load = Load()
            async with AsyncExitStack() as stack:
                sdk = {
                    name: await clients(stack, routers, keys.app(name), within=3) for name in names
                }
                workers = [
                    asyncio.create_task(load.run(name, sdk[name][r], r))
                    for name in ("open", "closed")
                    for r in range(3)
                ]

                def flowing(since: float, status: dict[str, int], least: int = 3) -> bool:
                    return all(
                        load.count(name, since, status=code, router=r) >= least
                        for name, code in status.items()
                        for r in range(3)
                    )

                begun = time.monotonic()
                await eventually(
                    _async(lambda: flowing(begun, {"open": 200, "closed": 200})),
                    what="load to flow through every router",
                    within=10,
                )
                # A burst on every router at once opens several connections to the store.
                burst_before = await asyncio.gather(
                    *(ask(sdk["closed"][r], r, headers=LOCAL) for r in range(3) for _ in range(8))
                )
                killing_wall = time.time()
                await asyncio.to_thread(redis_server.kill)
                killed = time.monotonic()

                def unreachable() -> bool:
                    states = [store_state(r) for r in routers]
                    return all(s.startswith("unreachable") and up == 0 for s, up in states)

                await wait_for(unreachable, what="every router to see the store gone", within=5)
                outage_states = [store_state(r) for r in routers]
                budget_closed = [await ask(sdk["budget-closed"][r], r) for r in range(3)]

                async def spend_until_refused(r: int) -> list[Outcome]:
                    seen = [await ask(sdk["budget-open"][r], r)]
                    while seen[-1].status == 200 and len(seen) < 50:
                        seen.append(await ask(sdk["budget-open"][r], r))
                    return seen

                budget_open = await asyncio.gather(*(spend_until_refused(r) for r in range(3)))
                await eventually(
                    _async(lambda: flowing(killed, {"open": 200, "closed": 503})),
                    what="load to go on through the outage",
                    within=10,
                )
                load.stop.set()
                await asyncio.gather(*workers)
                restarting, restarting_wall = time.monotonic(), time.time()
                await asyncio.to_thread(redis_server.start)

                def back() -> bool:
                    return all(store_state(r) == ("ok", 1.0) for r in routers)

                await wait_for(back, what="every router to see the store again", within=5)
                errors = [r.metric("gptoss_router_store_errors_total") for r in routers]
                # A burst on every router at once: calls on several connections of the pool.
                burst = await asyncio.gather(
                    *(ask(sdk["closed"][r], r, headers=LOCAL) for r in range(3) for _ in range(8))
                )
                errors_after = [r.metric("gptoss_router_store_errors_total") for r in routers]
                # The shared limit again: router 0 alone gets the app's whole minute (not the
                # third it would enforce on its own), the others nothing more.
                started = time.monotonic()
                first = [await ask(sdk["small"][0], 0) for _ in range(2 * small)]
                rest = [await ask(sdk["small"][r], r) for r in (1, 2) * small]
                elapsed = time.monotonic() - started

    noticed = [logged_after(r, "the state store is unreachable", killing_wall) for r in routers]
    recovered = [logged_after(r, "the state store answers again", restarting_wall) for r in routers]
    everything = [o for outcomes in load.seen.values() for o in outcomes]
    costs = [
        [(o.prompt_tokens * price[0] + o.completion_tokens * price[1]) / 1e6 for o in run]
        for run in budget_open
    ]
    slowest = max(o.ended - o.started for o in everything)
    during_open = load.between("open", killed, restarting)
    during_closed = load.between("closed", killed, restarting)
    print(
        f"outage: noticed {[round(t - killing_wall, 3) for t in noticed]} s after the kill, "
        f"back {[round(t - restarting_wall, 3) for t in recovered]} s after the restart began; "
        f"during it open {len(during_open)} requests, closed {len(during_closed)}; "
        f"{len(everything)} requests, slowest {slowest:.2f} s; budget-open spent "
        f"{[round(sum(c), 4) for c in costs]} of ${budget}; small admitted "
        f"{sum(o.status == 200 for o in first)} on router 0, {sum(o.status == 200 for o in rest)}"
        " elsewhere"
    )
    assert {o.kind for o in everything} <= {"ok", "InternalServerError"}  # no timeout, no reset
    assert slowest < 3
    assert all(t - killing_wall < 1 for t in noticed)  # the next sync, every 0.1 s
    assert [o.status for o in burst_before] == [200] * len(burst_before)
    assert {o.status for o in during_open} == {200}
    assert {o.status for o in during_closed} == {503}
    for o in during_closed:
        assert o.code == "store_unavailable" and int(o.headers["retry-after"]) >= 1
    for state, up in outage_states:
        assert redis_server.password not in state and up == 0
    assert [(o.status, o.code) for o in budget_closed] == [(503, "store_unavailable")] * 3
    # Each router stops at its third of the budget, past it by at most its last request.
    for run, cost in zip(budget_open, costs, strict=True):
        assert run[-1].kind == "RateLimitError" and run[-1].code == "insufficient_quota"
        assert sum(cost) <= budget / 3 + max(cost)
    allowance = sliding_allowance(small, elapsed)
    admitted_first = sum(o.status == 200 for o in first)
    admitted_rest = sum(o.status == 200 for o in rest)
    assert small <= admitted_first <= small + allowance
    assert admitted_first + admitted_rest <= small + allowance
    assert all(o.kind == "RateLimitError" for o in first + rest if o.status != 200)
    # Once the store answers again it stays up: no call fails on a connection from before.
    assert [o.status for o in burst] == [200] * len(burst)
    assert errors_after == errors


def logged_after(router: RouterProcess, text: str, after: float) -> float:
    """When ``router`` first logged a line with ``text`` at or after wall time ``after``."""
    for line in router.log().splitlines():
        if text in line:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if at >= after - 0.001:  # the log's clock is rounded to the millisecond
                return at
    raise AssertionError(f"{router.name} never logged {text!r}:\n{router.log()[-2000:]}")


def _async(probe: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probing() -> bool:
        return probe()

    return probing


# -- 6. start-up ------------------------------------------------------------------------------


async def test_a_router_whose_store_is_silent_or_refuses_its_password_does_not_start(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Silent: a port that accepts connections and never answers a byte."""
    keys = Keys()
    wrong = f"wrong-{secrets.token_urlsafe(16)}"
    with fleet() as sims, socket.create_server(("127.0.0.1", 0)) as listener:
        base = router_config(sims, keys, store=None, apps=[app(keys, "web")])
        keys.add(STORE_KEY_ENV, redis_server.password)
        keys.add("GPTOSS_TEST_WRONG_STORE_KEY", wrong)
        silent = {
            **base,
            "store": {
                "url": f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
                "key_env": STORE_KEY_ENV,
                "startup_timeout_s": 1.0,
            },
        }
        refused = {
            **base,
            "store": {"url": redis_server.url, "key_env": "GPTOSS_TEST_WRONG_STORE_KEY"},
        }
        (silent_code, silent_log), (refused_code, refused_log) = await asyncio.gather(
            asyncio.to_thread(run_until_exit, silent, tmp_path, name="silent", secrets=keys.env),
            asyncio.to_thread(run_until_exit, refused, tmp_path, name="refused", secrets=keys.env),
        )
    print(f"silent store: exit {silent_code}; refused password: exit {refused_code}")
    assert silent_code != 0
    assert (
        "store.url: redis://127.0.0.1:" in silent_log and "did not answer within 1 s" in silent_log
    )
    assert refused_code != 0
    assert "refused the router's password (store.key/key_file/key_env) or user" in refused_log
    for log in (silent_log, refused_log):
        assert "Application startup failed" in log
        for secret in keys.env.values():
            assert secret not in log


async def test_a_router_without_apps_refuses_callers_unless_anonymous_access_is_on(
    tmp_path: Path,
) -> None:
    keys = Keys()
    with fleet() as sims:
        closed = router_config(sims, keys, store=None)
        anonymous = {**closed, "allow_anonymous": True}
        with started_routers([closed, anonymous], tmp_path, keys) as (shut, open_):
            await wait_for(pods_scraped([shut, open_]), what="the routers to scrape", within=10)
            async with AsyncExitStack() as stack:
                refused, served = [
                    await ask(client, i, headers=LOCAL)
                    for i, client in enumerate(
                        await clients(stack, [shut, open_], "sk-nobody-knows-this")
                    )
                ]
    assert refused.status == 401 and refused.kind == "AuthenticationError"
    assert refused.code == "invalid_api_key"
    assert served.status == 200 and served.backend == "local"
    assert "no apps are configured and anonymous access is off" in shut.log()
    assert "anonymous access is on (allow_anonymous)" in open_.log()
    assert "anonymous access is on" not in shut.log()
