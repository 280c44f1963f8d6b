"""What one router learns, the others act on, through one real Redis: a provider's 429 benches
it everywhere, and requests held open on one router count as load on the others (the fleet in
``shared_fleet.py``)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

import pytest
from live import fleet
from shared_fleet import (
    HOSTED,
    LOCAL,
    MODEL,
    Keys,
    app,
    ask,
    clients,
    pods_scraped,
    router_config,
    started_routers,
    store_client,
    synced_since,
    wait_for,
)

from gptoss_localkube.redis_server import RedisServer
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import parse_rule
from gptoss_sim.server import running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

pytestmark = pytest.mark.timeout(120)


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

                def groq_bench() -> str | None:  # groq's limits for the model, not all of groq
                    fields = [f.decode() for f in store.hkeys("gptoss:benched")]
                    return next((f for f in fields if f.startswith("spent|groq|")), None)

                def bench_in_store() -> float | None:
                    return time.time() if groq_bench() is not None else None

                seen = await wait_for(bench_in_store, what="the bench to reach Redis", within=2)
                # Every replica synced after the bench was in Redis: each has read and applied it.
                applied = await wait_for(
                    lambda: time.time() if synced_since(store, 3)(seen) else None,
                    what="every replica to sync after the bench",
                    within=2,
                )
                until = int(store.hget("gptoss:benched", groq_bench() or "") or 0) / 1000
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
