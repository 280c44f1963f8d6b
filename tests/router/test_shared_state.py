"""Shared state across real router processes on one real Redis: limits, budgets, benches,
in-flight counts, a store outage and start-up checks.

Every router here is ``python -m gptoss_router --config <file>`` (``router_processes.py``); the
simulators (vLLM pods, Groq, Fireworks, Together) run in this process, so the tests count what
reached them. Secrets (the store's password, app and provider keys) reach the routers only as
environment variables named by ``key_env``.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from live import Fleet, eventually, fleet, provider_entries
from router_processes import RouterProcess, router_processes, run_until_exit

from gptoss_localkube.redis_server import RedisServer
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import parse_rule
from gptoss_sim.server import running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

pytestmark = pytest.mark.timeout(120)

MODEL = "gpt-oss-120b"
STORE_KEY_ENV = "GPTOSS_TEST_STORE_KEY"
SYNC_INTERVAL_S = 0.1
WINDOW_S = 60.0  # the app limits' sliding window (routing/admission.py)
QUESTION = [{"role": "user", "content": "How many replicas share this limit?"}]
LOCAL = {"x-gptoss-route": "local"}  # local pods only
HOSTED = {"x-gptoss-route": "hosted"}  # providers only


# -- configuration ---------------------------------------------------------------------------


@dataclass
class Keys:
    """Every secret of a test, by the environment variable that carries it to the routers."""

    env: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> str:
        self.env[name] = value
        return name

    def app(self, name: str) -> str:
        return self.env[_app_env(name)]


def _app_env(name: str) -> str:
    return f"GPTOSS_TEST_APP_{name.upper().replace('-', '_')}_KEY"


def app(keys: Keys, name: str, **limits: Any) -> dict[str, Any]:
    """An app entry whose key comes from the environment."""
    env = keys.add(_app_env(name), f"sk-{name}-{secrets.token_urlsafe(12)}")
    return {"name": name, "key_env": env, "limits": limits}


def router_config(
    sims: Fleet,
    keys: Keys,
    *,
    store: RedisServer | None,
    apps: Sequence[dict[str, Any]] = (),
    pods: Sequence[str] | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    store_options: Mapping[str, Any] | None = None,
    allow_anonymous: bool = False,
    local_price: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Any]:
    """One router's configuration: the fleet's pods and providers, ``apps``, and the store."""
    providers = []
    for entry in provider_entries(sims, model=MODEL, prices=prices):
        secret = entry.pop("key")
        providers.append({**entry, "key_env": keys.add(f"GPTOSS_TEST_{entry['name']}_KEY", secret)})
    config: dict[str, Any] = {
        "models": {
            MODEL: {
                "local": {
                    "pods": list(pods or [sims.local.base_url]),
                    "scrape": True,
                    "price": {"input": local_price[0], "output": local_price[1]},
                },
            }
        },
        "providers": providers,
        "apps": list(apps),
        "allow_anonymous": allow_anonymous,
        "tuning": {
            "first_byte_timeout_s": 5.0,
            "idle_timeout_s": 5.0,
            "scrape_interval_s": 0.05,
            "stale_after_s": 1.0,
        },
    }
    if store is not None:
        keys.add(STORE_KEY_ENV, store.password)
        config["store"] = {
            "url": store.url,
            "key_env": STORE_KEY_ENV,
            "sync_interval_s": SYNC_INTERVAL_S,
            **(store_options or {}),
        }
    return config


# -- clients ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request as the SDK saw it."""

    router: int
    status: int  # 0: no answer (timeout, connection error)
    kind: str  # the SDK's class for it: "ok", "RateLimitError", "APITimeoutError", ...
    code: str | None
    headers: httpx.Headers
    started: float
    ended: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend: str | None = None


async def ask(
    client: openai.AsyncOpenAI,
    router: int,
    *,
    max_tokens: int = 16,
    headers: Mapping[str, str] | None = None,
) -> Outcome:
    """One chat completion; refusals and failures come back as outcomes, not exceptions."""
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=QUESTION, max_tokens=max_tokens, extra_headers=headers
        )
    except openai.APIStatusError as err:
        return Outcome(
            router,
            err.status_code,
            type(err).__name__,
            err.code,
            err.response.headers,
            started,
            time.monotonic(),
        )
    except openai.APIConnectionError as err:
        return Outcome(
            router, 0, type(err).__name__, None, httpx.Headers(), started, time.monotonic()
        )
    completion = raw.parse()
    usage = completion.usage
    assert usage is not None
    return Outcome(
        router,
        raw.status_code,
        "ok",
        None,
        raw.headers,
        started,
        time.monotonic(),
        usage.prompt_tokens,
        usage.completion_tokens,
        raw.headers.get("x-gptoss-backend"),
    )


async def clients(
    stack: AsyncExitStack, routers: Sequence[RouterProcess], key: str, *, within: float = 10.0
) -> list[openai.AsyncOpenAI]:
    """One SDK client per router for the app with ``key``; the SDK does not retry."""
    return [
        await stack.enter_async_context(
            openai.AsyncOpenAI(
                base_url=r.openai_base_url, api_key=key, max_retries=0, timeout=within
            )
        )
        for r in routers
    ]


async def wait_for(probe: Callable[[], object], *, what: str, within: float) -> Any:
    """``eventually`` for a blocking probe (HTTP to the routers, Redis), run off the loop."""

    async def probing() -> object:
        return await asyncio.to_thread(probe)

    return await eventually(probing, what=what, within=within)


def pods_scraped(routers: Sequence[RouterProcess], count: int = 1) -> Callable[[], bool]:
    """Whether every router has read ``count`` pods' queues (only then are they candidates)."""
    ready = {"model": MODEL, "state": "ready"}
    return lambda: all((r.metric("gptoss_router_local_pods", ready) or 0) >= count for r in routers)


def store_state(router: RouterProcess) -> tuple[str, float | None]:
    """What ``/readyz`` says of the store, and ``gptoss_router_store_up``."""
    _, body = router.readyz()
    return str(body.get("store", "")), router.metric("gptoss_router_store_up")


def store_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, password=server.password)


def synced_since(store: redis.Redis, replicas: int) -> Callable[[float], bool]:
    """Whether all ``replicas`` have synced (published and read back) after wall time ``t``."""

    def check(t: float) -> bool:
        seen = store.zrange("gptoss:replicas", 0, -1, withscores=True)
        return len(seen) == replicas and all(score > t * 1000 for _, score in seen)

    return check


@contextmanager
def started_routers(
    configs: Sequence[dict[str, Any]], tmp_path: Path, keys: Keys
) -> Iterator[list[RouterProcess]]:
    with router_processes(configs, tmp_path, secrets=keys.env) as routers:
        yield routers
    for router in routers:
        for secret in keys.env.values():
            assert secret not in router.log(), f"{router.name} logged a secret"


def sliding_allowance(limit: int, elapsed_s: float) -> int:
    """How many units past ``limit`` a sliding window may admit over ``elapsed_s``: if the
    minute turns meanwhile, the previous window's count weighs less as it decays, at most
    ``limit * elapsed / window`` (state/store.py, ``sliding_take``)."""
    return math.ceil(limit * elapsed_s / WINDOW_S)


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


# -- 3. provider benches ---------------------------------------------------------------------


async def test_a_provider_that_answers_429_to_one_router_is_benched_on_all_three_within_a_second(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    keys = Keys()
    # Groq is the cheapest, so every router tries it first; it answers 429, Retry-After 30.
    prices = {"groq": (0.1, 0.4), "fireworks": (0.15, 0.6), "together": (0.2, 0.8)}
    faults = {"groq": ("status=429,retry_after=30",)}
    with fleet(provider_faults=faults) as sims:
        config = router_config(
            sims, keys, store=redis_server, apps=[app(keys, "web")], prices=prices
        )
        groq = sims.provider_sims["groq"].faults
        with (
            started_routers([config] * 3, tmp_path, keys) as routers,
            store_client(redis_server) as store,
        ):
            async with AsyncExitStack() as stack:
                sdk = await clients(stack, routers, keys.app("web"))
                first = await ask(sdk[0], 0, headers=HOSTED)
                refused_at = time.time()
                assert first.status == 200 and first.backend == "fireworks"
                assert groq.requests == 1

                def bench_in_store() -> float | None:
                    return time.time() if store.hexists("gptoss:benched", "spent|groq") else None

                seen = await wait_for(bench_in_store, what="the bench to reach Redis", within=2)
                # Every replica synced after the bench was in Redis: each has read and applied it.
                applied = await wait_for(
                    lambda: time.time() if synced_since(store, 3)(seen) else None,
                    what="every replica to sync after the bench",
                    within=2,
                )
                until = int(store.hget("gptoss:benched", "spent|groq") or 0) / 1000
                takeover = applied - refused_at
                others = await asyncio.gather(
                    *(ask(sdk[r], r, headers=HOSTED) for r in (1, 2, 1, 2, 1, 2))
                )
    print(f"groq benched on all three routers {takeover:.3f} s after its 429")
    assert takeover < 1.0
    assert 28 <= until - refused_at <= 30  # benched for as long as Retry-After said
    assert [o.status for o in others] == [200] * 6
    assert {o.backend for o in others} == {"fireworks"}
    assert groq.requests == 1  # no other router ever called the benched provider


# -- 4. in-flight requests per pod -----------------------------------------------------------


def _served(sim: VllmSim) -> float:
    """Chat requests a vLLM simulator finished."""
    return sum(
        sample.value
        for family in sim.registry.collect()
        for sample in family.samples
        if sample.name == "vllm:request_success_total"
    )


async def test_requests_held_open_on_one_router_count_as_load_on_the_others(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Pod 1 never answers a chat request (it still answers /metrics, so its queue looks empty);
    router 0 knows only pod 1 and holds requests open on it. Routers 1 and 2 know both pods; the
    conversation's prefix may hash to either, and a pod stays eligible until its load passes
    1.25x the mean (at least 4). By their own counts and the scrape the pods are equal, so only
    router 0's 12 in-flight requests, shared through the store, put pod 1 past that bound
    (12 + 1 > 1.25 x 13 / 2) and send every request of theirs to pod 2."""
    held = 12
    keys = Keys()
    capacity = CapacityParams(startup_s=0, step_base_s=0.002, step_per_seq_s=0.0, max_num_seqs=64)
    hanging = VllmSim(
        VllmConfig(
            model=MODEL,
            capacity=capacity,
            faults=(parse_rule("hang,path=/v1/chat/completions"),),
        )
    )
    with fleet() as sims, ExitStack() as stack, ExitStack() as pod1_running:
        pod1 = pod1_running.enter_context(running(hanging))
        pod2 = sims.local
        apps = [app(keys, "web")]
        only_pod1 = router_config(sims, keys, store=redis_server, apps=apps, pods=[pod1.base_url])
        both = router_config(
            sims, keys, store=redis_server, apps=apps, pods=[pod1.base_url, pod2.base_url]
        )
        with started_routers([only_pod1, both, both], tmp_path, keys) as routers:
            await wait_for(pods_scraped(routers[:1], 1), what="router 0 to scrape", within=10)
            await wait_for(pods_scraped(routers[1:], 2), what="routers 1, 2 to scrape", within=10)
            store = stack.enter_context(store_client(redis_server))
            async with AsyncExitStack() as clients_stack:
                sdk = await clients(clients_stack, routers, keys.app("web"), within=5)
                (patient,) = await clients(clients_stack, routers[:1], keys.app("web"), within=60)
                holding = [asyncio.create_task(ask(patient, 0, headers=LOCAL)) for _ in range(held)]

                def hanging_on_pod1() -> bool:
                    fired = hanging.faults.schedule.fired
                    return bool(fired) and fired[0] == held

                await wait_for(hanging_on_pod1, what="router 0's requests to reach pod 1", within=5)

                def published() -> float | None:
                    for name in store.scan_iter("gptoss:inflight:*"):
                        if store.hget(name, pod1.base_url) == str(held).encode():
                            return time.time()
                    return None

                seen = await wait_for(published, what="router 0 to publish its load", within=2)
                await wait_for(
                    lambda: synced_since(store, 3)(seen),
                    what="every replica to sync after it",
                    within=2,
                )
                before = _served(sims.vllm)
                others = await asyncio.gather(*(ask(sdk[r], r, headers=LOCAL) for r in (1, 2) * 5))
                still_holding = not any(task.done() for task in holding)
                # Stopping pod 1 ends its hanging requests, so that router 0 can stop at once.
                await asyncio.to_thread(pod1_running.close)
                await asyncio.gather(*holding)
    fired = hanging.faults.schedule.fired[0]
    print(f"routers 1, 2 sent {len(others)} requests to pod 2 while pod 1 held {held}")
    assert still_holding
    assert [o.status for o in others] == [200] * len(others)
    assert fired == held  # pod 1 got router 0's requests and no other
    assert _served(sims.vllm) - before == len(others)


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
    assert "refused the router's password (store.key/key_file/key_env)" in refused_log
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
