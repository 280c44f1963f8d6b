"""An app's limits held once across three real router processes on one real Redis: requests
per minute, tokens per minute and dollars per day (the fleet in ``shared_fleet.py``)."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from live import fleet
from shared_fleet import (
    HOSTED,
    LOCAL,
    MODEL,
    QUESTION,
    SYNC_INTERVAL_S,
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


# -- 1. requests per minute ------------------------------------------------------------------


async def test_three_routers_on_one_store_admit_an_apps_requests_per_minute_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    limit = 30
    keys = Keys()
    with fleet() as sims:
        config = router_config(
            sims, keys, store=redis_server, apps=[app(keys, "web", requests_per_minute=limit)]
        )
        with started_routers([config] * 3, tmp_path, keys) as routers:
            await wait_for(pods_scraped(routers), what="the routers to scrape the pod", within=10)

            def sharing() -> bool:
                return all(
                    store_state(r) == ("ok", 1.0) and r.metric("gptoss_router_store_replicas") == 3
                    for r in routers
                )

            await wait_for(sharing, what="each router to see the store and 3 replicas", within=5)
            async with AsyncExitStack() as stack:
                sdk = await clients(stack, routers, keys.app("web"))
                gate = asyncio.Semaphore(9)

                async def one(i: int) -> Outcome:
                    async with gate:
                        return await ask(sdk[i % 3], i % 3)

                started = time.monotonic()
                outcomes = await asyncio.gather(*(one(i) for i in range(3 * limit)))
                elapsed = time.monotonic() - started

    admitted = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    bound = limit + sliding_allowance(limit, elapsed)
    per_router = [sum(o.router == r for o in admitted) for r in range(3)]
    print(f"rpm {limit}: admitted {len(admitted)} {per_router} in {elapsed:.2f} s, bound {bound}")
    assert limit <= len(admitted) <= bound
    assert {o.kind for o in refused} == {"RateLimitError"}
    for o in refused:
        assert o.status == 429 and o.code == "rate_limit_exceeded"
        assert int(o.headers["retry-after"]) >= 1
        assert o.headers["x-ratelimit-limit-requests"] == str(limit)
        assert o.headers["x-ratelimit-remaining-requests"] == "0"
        assert o.headers["x-ratelimit-reset-requests"].endswith("s")
    for o in admitted:
        assert o.headers["x-ratelimit-limit-requests"] == str(limit)
        assert 0 <= int(o.headers["x-ratelimit-remaining-requests"]) < limit


# -- 2. tokens per minute and dollars per day ------------------------------------------------


async def test_a_token_limit_and_a_dollar_budget_hold_across_three_routers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Tokens: a request reserves ``input + max_tokens`` (input estimated as a quarter token per
    body byte) and its usage settles the reservation, the surplus going back to the replica's
    lease. Leases never grant more than the limit per window, so what admitted requests use is at
    most the limit (plus the sliding allowance); and the units left unused at the end sit on the
    replicas, at most a lease and a reservation each (routing/leases.py).

    Dollars: each replica checks the spend totals of its last sync plus its own unsynced spend.
    Once the shared total reaches the budget at t*, a replica learns it within
    ``w = 2 * sync_interval`` (the spender publishes in its next sync, the others read it in
    theirs; we allow 0.5 s more for syncs delayed on a busy machine). Past the budget go: the
    requests in flight at t* (one per client), the ones each client gets admitted within w
    (consecutive requests of a client are at least the provider's latency L apart, as spend is
    settled only once the provider answered) and the request that crossed it.
    """
    tokens_limit, budget = 3000, 0.06
    fraction = 0.02  # StoreConfig.lease_fraction's default
    prices = {"groq": (10.0, 40.0), "fireworks": (20.0, 50.0), "together": (30.0, 60.0)}
    max_tokens = 20
    keys = Keys()
    with fleet(time_scale=1.0) as sims:
        apps = [
            app(keys, "tok", tokens_per_minute=tokens_limit),
            app(keys, "dol", dollars_per_day=budget),
        ]
        config = router_config(sims, keys, store=redis_server, apps=apps, prices=prices)
        with started_routers([config] * 3, tmp_path, keys) as routers:
            await wait_for(pods_scraped(routers), what="the routers to scrape the pod", within=10)
            async with AsyncExitStack() as stack:
                tok = await clients(stack, routers, keys.app("tok"))
                dol = await clients(stack, routers, keys.app("dol"))

                async def until_refused(
                    client: openai.AsyncOpenAI, router: int, **kwargs: Any
                ) -> list[Outcome]:
                    seen: list[Outcome] = []
                    while not seen or seen[-1].status == 200:
                        seen.append(await ask(client, router, max_tokens=max_tokens, **kwargs))
                    return seen

                started = time.monotonic()
                token_runs = asyncio.gather(
                    *(until_refused(tok[r], r, headers=LOCAL) for r in range(3))
                )
                dollar_runs = asyncio.gather(
                    *(until_refused(dol[r % 3], r % 3, headers=HOSTED) for r in range(6))
                )
                token_outcomes, dollar_outcomes = await asyncio.gather(token_runs, dollar_runs)
                elapsed = time.monotonic() - started
            router_spend = [
                r.metric("gptoss_router_app_cost_dollars_total", {"app": "dol"}) or 0.0
                for r in routers
            ]

    # Tokens.
    outcomes = [o for run in token_outcomes for o in run]
    admitted = [o for o in outcomes if o.status == 200]
    used = sum(o.prompt_tokens + o.completion_tokens for o in admitted)
    # The SDK sends compact JSON, as httpx encodes it: the router reserves a quarter token per
    # byte of it plus max_tokens.
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": max_tokens}
    reservation = len(httpx.Request("POST", "/", json=body).content) // 4 + max_tokens
    for o in admitted:
        assert o.prompt_tokens + o.completion_tokens <= reservation
    lease = math.floor(tokens_limit * fraction)
    high = tokens_limit + sliding_allowance(tokens_limit, elapsed)
    low = tokens_limit - 3 * (lease + reservation)
    print(f"tpm {tokens_limit}: used {used} by {len(admitted)} requests, bounds [{low}, {high}]")
    assert low <= used <= high
    for run in token_outcomes:
        last = run[-1]
        assert last.kind == "RateLimitError" and last.code == "rate_limit_exceeded"
        assert last.headers["x-ratelimit-limit-tokens"] == str(tokens_limit)
        assert int(last.headers["retry-after"]) >= 1

    # Dollars.
    spent = [o for run in dollar_outcomes for o in run if o.status == 200]
    costs = [
        (o.prompt_tokens * prices[o.backend][0] + o.completion_tokens * prices[o.backend][1]) / 1e6
        for o in spent
        if o.backend is not None
    ]
    assert len(costs) == len(spent) > 0
    total = sum(costs)
    assert sum(router_spend) == pytest.approx(total, rel=1e-6)
    clients_n = len(dollar_outcomes)
    window = 2 * SYNC_INTERVAL_S + 0.5
    latency = min(sims.provider_sims[name].profile.ttft_s for name in prices)  # time_scale 1
    overshoot = max(costs) * (clients_n * (1 + math.ceil(window / latency)) + 1)
    print(
        f"budget ${budget}: spent ${total:.5f} by {len(spent)} requests "
        f"(per router {[round(s, 5) for s in router_spend]}), bound ${budget + overshoot:.5f}"
    )
    assert budget <= total <= budget + overshoot
    for run in dollar_outcomes:
        last = run[-1]
        assert last.kind == "RateLimitError" and last.code == "insufficient_quota"
        assert int(last.headers["retry-after"]) >= 1
