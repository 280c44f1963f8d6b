"""A new local pod is sent the hot beginnings of its model's prompts before it takes traffic,
so the conversations the hash ring moves to it find their system prompt and tools cached."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from live import eventually, fleet, live_router, router_settings
from prometheus_client import CollectorRegistry

from gptoss_router.config.providers import ProviderKind
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.routing.backends import Backends
from gptoss_router.settings import RouterSettings
from gptoss_router.state.hot_prefixes import Head, HotPrefixes, head_of
from gptoss_router.watch.warming import warm_forever, warmup
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import FaultSchedule, parse_rule
from gptoss_sim.server import Running, running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

MODEL = "gpt-oss-120b"
SYSTEM = "You are the billing agent of Example Corp. Answer from the tools only. " * 60
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": f"lookup_{name}",
            "description": f"Look up the customer's {name} by account id. " * 8,
            "parameters": {
                "type": "object",
                "properties": {"account": {"type": "string"}},
                "required": ["account"],
            },
        },
    }
    for name in ("invoice", "card", "plan", "refund")
]


RESPONSES_TOOLS = [{"type": "function", **tool["function"]} for tool in TOOLS]
VLLM = dialect_for(ProviderKind.VLLM)


def chat(user: str, **more: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return {"model": MODEL, "messages": messages, "tools": TOOLS, **more}


def responses(user: str, *, tools: bool = True, **more: Any) -> dict[str, Any]:
    chosen = {"tools": RESPONSES_TOOLS} if tools else {}
    return {"model": MODEL, "instructions": SYSTEM, "input": user, **chosen, **more}


# -- the table of hot beginnings (pure) ----------------------------------------------------


def test_a_head_is_what_comes_before_the_first_user_message_with_what_changes_its_rendering() -> (
    None
):
    head = head_of(chat("hello", reasoning_effort="high", temperature=0.2))
    assert head == {
        "messages": [{"role": "system", "content": SYSTEM}],
        "tools": TOOLS,
        "reasoning_effort": "high",
    }
    assert head_of({"messages": [{"role": "user", "content": "hi"}]}) is None
    assert head_of({"messages": "not a list"}) is None


def test_a_head_that_keeps_coming_is_not_crowded_out_by_one_offs() -> None:
    hot = HotPrefixes(slots=4, interval_s=0)
    for i in range(40):
        hot.observe(MODEL, chat(f"question {i}"), 2 * i)
        other = {"role": "system", "content": f"one-off system prompt {i}"}
        hot.observe(MODEL, {"messages": [other, {"role": "user", "content": "x"}]}, 2 * i + 1)
    hottest = hot.hottest(MODEL, 2)
    assert hottest[0] == Head("chat", head_of(chat("anything")) or {})
    assert all(h.fields["messages"][0]["content"] != SYSTEM for h in hottest[1:])


def test_heads_that_differ_in_every_request_never_count_as_hot() -> None:
    """Once the table is full, a new head takes a slot with the count of the one it replaced:
    that inherited count is not sightings, so a system prompt with a user's name or the time
    in it never makes a new pod wait for warm-ups nobody will use."""
    hot = HotPrefixes(slots=8, interval_s=0)
    for i in range(200):
        prompt = {"role": "system", "content": f"You help user {i}. The time is {i}."}
        hot.observe(MODEL, {"messages": [prompt, {"role": "user", "content": "x"}]}, i)
    assert not hot.has(MODEL) and hot.hottest(MODEL, 8) == []
    for i in range(2):
        hot.observe(MODEL, chat(f"q{i}"), 300 + i)  # a real head, seen twice
    assert [h.fields["messages"][0]["content"] for h in hot.hottest(MODEL, 8)] == [SYSTEM]


def test_a_responses_head_is_one_head_whatever_ids_its_items_were_given() -> None:
    hot = HotPrefixes(slots=8, interval_s=0)
    for i in range(3):
        developer = {"role": "developer", "content": SYSTEM, "id": f"msg_{i}", "status": "x"}
        payload = {"input": [developer, {"role": "user", "content": f"q{i}", "id": f"u{i}"}]}
        hot.observe(MODEL, payload, i, "responses")
    heads = hot.hottest(MODEL, 8)
    assert [h.fields["input"] for h in heads] == [[{"role": "developer", "content": SYSTEM}]]


async def test_a_pod_serving_a_base_model_and_its_adapters_is_warmed_for_all_at_once() -> None:
    """One URL in the pools of the base model and each adapter: each model's warm-ups run at
    the same time, not one model after another."""
    models = ["gpt-oss-120b", "support-lora", "billing-lora"]
    arrived: set[str] = set()
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        arrived.add((await request.json())["model"])
        await release.wait()
        return web.json_response({"choices": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    settings = RouterSettings(
        allow_anonymous=True, models={m: {"local": {"pods": [], "scrape": False}} for m in models}
    )
    backends = Backends(settings, clock=time.monotonic, rng=random.Random(1))  # noqa: S311
    for model in models:
        for i in range(2):
            system = {"role": "system", "content": f"{model} prompt"}
            backends.hot.observe(
                model, {"messages": [system, {"role": "user", "content": f"{i}"}]}, i
            )
    try:
        async with aiohttp.ClientSession() as session:
            metrics = RouterMetrics(CollectorRegistry())
            warming = asyncio.create_task(
                warm_forever(session, backends, metrics, most=8, timeout_s=30.0)
            )
            for model in models:
                backends.pools.replace(model, [url], served_model=model)

            async def all_asked() -> bool:
                return arrived == set(models)

            await eventually(all_asked, what="every model's warm-up to reach the pod", within=20)
            release.set()

            async def all_in() -> bool:
                pods = [backends.pools.get(m, url) for m in models]
                return all(pod is not None and not pod.warming for pod in pods)

            await eventually(all_in, what="the pod to take every model's traffic", within=20)
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
    finally:
        await runner.cleanup()


def test_efforts_and_cache_salts_make_separate_heads_as_they_render_separately() -> None:
    hot = HotPrefixes(slots=8, interval_s=0)
    for _ in range(3):
        hot.observe(MODEL, chat("a", reasoning_effort="low"), 0)
        hot.observe(MODEL, chat("b", reasoning_effort="high"), 0)
        hot.observe(MODEL, chat("c", cache_salt="tenant-1"), 0)
    heads = hot.hottest(MODEL, 8)
    assert len(heads) == 3
    assert {h.fields.get("reasoning_effort") for h in heads} == {"low", "high", None}


def test_a_busy_model_has_a_few_requests_a_second_looked_at_and_one_sighting_is_not_hot() -> None:
    hot = HotPrefixes(slots=8, interval_s=0.05)
    for i in range(100):  # 100 requests within 40 ms: only the first is looked at
        hot.observe(MODEL, chat(f"q{i}"), 10.0 + i * 0.0004)
    assert not hot.has(MODEL)
    hot.observe(MODEL, chat("later"), 10.05)  # 50 ms on: the second sighting
    assert hot.has(MODEL)
    assert hot.hottest("gpt-oss-20b", 8) == []


def test_what_was_hot_fades_when_it_stops_coming() -> None:
    hot = HotPrefixes(slots=2, interval_s=0)
    for _ in range(3):
        hot.observe(MODEL, chat("old"), 0)
    for i in range(2 * 64 * 2):
        hot.observe(MODEL, {"messages": [{"role": "system", "content": f"new {i % 2}"}]}, 0)
    assert head_of(chat("old")) not in [h.fields for h in hot.hottest(MODEL, 2)]


def test_a_responses_head_is_the_instructions_leading_items_tools_and_effort() -> None:
    developer = {"type": "message", "role": "developer", "content": "Be brief."}
    user = {"type": "message", "role": "user", "content": "hi"}
    payload = responses("x", reasoning={"effort": "low", "summary": "auto"}, temperature=0.2)
    payload["input"] = [developer, user, {**developer, "content": "later"}]
    assert head_of(payload, "responses") == {
        "input": [developer],
        "instructions": SYSTEM,
        "tools": RESPONSES_TOOLS,
        "reasoning": {"effort": "low"},
    }
    assert head_of({"model": MODEL, "input": "hi"}, "responses") is None


def test_the_same_prompt_through_chat_and_responses_makes_two_heads() -> None:
    hot = HotPrefixes(slots=8, interval_s=0)
    for i in range(3):
        hot.observe(MODEL, chat(f"c{i}"), 0)
        hot.observe(MODEL, responses(f"r{i}"), 0, "responses")
    assert sorted(h.route for h in hot.hottest(MODEL, 8)) == ["chat", "responses"]


def test_a_responses_warmup_renders_as_the_apps_requests_reach_the_pod() -> None:
    head = head_of(responses("x", tools=False, reasoning={"effort": "minimal"}), "responses")
    path, raw = warmup(Head("responses", head or {}), "support", VLLM)
    body = json.loads(raw)
    assert path == "/v1/responses" and body["model"] == "support"
    # Without a function tool vLLM 0.17 renders no instructions: they go first in the input,
    # as they do for the app's own requests (outbound.py).
    assert "instructions" not in body
    assert body["input"][0] == {"type": "message", "role": "developer", "content": SYSTEM}
    assert body["input"][-1]["role"] == "user"
    assert body["reasoning"] == {"effort": "low"}
    assert body["max_output_tokens"] == 1 and body["store"] is False


def test_a_warmup_asks_the_pod_for_one_token_after_the_head_under_its_served_name() -> None:
    head = Head("chat", head_of(chat("x", reasoning_effort="low")) or {})
    path, raw = warmup(head, "support", VLLM)
    body = json.loads(raw)
    assert path == "/v1/chat/completions" and body["model"] == "support"
    assert body["messages"][0] == {"role": "system", "content": SYSTEM}
    assert body["messages"][-1]["role"] == "user"
    assert body["tools"] == TOOLS and body["reasoning_effort"] == "low"
    assert body["max_tokens"] == 1 and body["stream"] is False


# -- a live router over simulated pods -----------------------------------------------------


@contextmanager
def two_pods() -> Iterator[tuple[list[VllmSim], list[Running]]]:
    # Prefill costs time (50 us a token), as on a GPU: a cold 3,000-token prompt shows.
    capacity = CapacityParams(startup_s=0, step_base_s=0.002, step_per_seq_s=0.0)
    sims = [VllmSim(VllmConfig(model=MODEL, capacity=capacity)) for _ in range(2)]
    with ExitStack() as stack:
        yield sims, [stack.enter_context(running(sim)) for sim in sims]


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == f"{name}_total"
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def answered(sim: VllmSim) -> float:
    return counter(sim.registry, "vllm:request_success")


Ask = Callable[[openai.AsyncOpenAI, str], Awaitable[object]]


async def ask_chat(client: openai.AsyncOpenAI, question: str) -> object:
    return await client.chat.completions.create(**chat(question), max_tokens=4)


async def first_request_on_new_pod(
    warm_prefixes: int, ask: Ask = ask_chat
) -> tuple[float, float, float]:
    """Traffic of one app on pod A; pod B joins; the app's requests go on until B serves one.
    Returns B's warm-ups answered, and B's prefix-cache queries and hits for that request."""
    with two_pods() as (sims, pods):
        settings = RouterSettings(
            allow_anonymous=True,
            models={MODEL: {"local": {"pods": [pods[0].base_url], "scrape": True}}},  # type: ignore[dict-item]
            tuning={"scrape_interval_s": 0.05, "warm_prefixes": warm_prefixes},  # type: ignore[arg-type]
        )
        async with (
            live_router(settings) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client,
        ):
            for i in range(24):  # sightings of the head, 50 ms apart at most
                await ask(client, f"question {i}")
            pools = router.app.state.shared.backends.pools
            pools.replace(MODEL, [p.base_url for p in pods], served_model=MODEL)

            async def b_routable() -> bool:
                return not any(p.warming for p in pools.pods(MODEL)) and bool(
                    [p for p in pools.pods(MODEL) if p.url == pods[1].base_url and p.stats]
                )

            await eventually(b_routable, what="the new pod to take traffic", within=30)
            warmed = counter(router.registry, "gptoss_router_prefix_warmups", outcome="ok")
            before = answered(sims[1])
            queries = counter(sims[1].registry, "vllm:prefix_cache_queries")
            hits = counter(sims[1].registry, "vllm:prefix_cache_hits")
            for i in range(64):
                await ask(client, f"new question {i}")
                if answered(sims[1]) > before:
                    break
            assert answered(sims[1]) == before + 1, "the ring sent nothing to the new pod"
            return (
                warmed,
                counter(sims[1].registry, "vllm:prefix_cache_queries") - queries,
                counter(sims[1].registry, "vllm:prefix_cache_hits") - hits,
            )


async def test_a_new_pod_is_warmed_with_the_apps_prompt_and_tools_before_its_first_request() -> (
    None
):
    warmed, queries, hits = await first_request_on_new_pod(warm_prefixes=8)
    assert warmed == 1  # one app, one head
    # The system prompt and tools (about 3,000 tokens) come from the cache; only the question
    # and the last block are computed.
    assert queries > 0 and hits / queries > 0.9


@pytest.mark.parametrize("tools", [True, False], ids=["with tools", "instructions alone"])
async def test_a_responses_apps_new_pod_is_warmed_with_its_instructions(tools: bool) -> None:
    async def ask(client: openai.AsyncOpenAI, question: str) -> object:
        return await client.responses.create(
            **responses(question, tools=tools), max_output_tokens=4, store=False
        )

    warmed, queries, hits = await first_request_on_new_pod(warm_prefixes=8, ask=ask)
    assert warmed == 1
    assert queries > 0 and hits / queries > 0.9


async def test_without_warming_the_new_pods_first_request_computes_its_whole_prompt() -> None:
    warmed, queries, hits = await first_request_on_new_pod(warm_prefixes=0)
    assert warmed == 0
    assert queries > 0 and hits == 0


@pytest.mark.parametrize("status", ["status=503", "hang"])
async def test_a_pod_that_fails_or_stalls_its_warmups_still_takes_traffic(status: str) -> None:
    with two_pods() as (sims, pods):
        settings = RouterSettings(
            allow_anonymous=True,
            models={MODEL: {"local": {"pods": [pods[0].base_url], "scrape": True}}},  # type: ignore[dict-item]
            tuning={"scrape_interval_s": 0.05, "warm_timeout_s": 1.0},  # type: ignore[arg-type]
        )
        async with (
            live_router(settings) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client,
        ):
            for i in range(16):
                await client.chat.completions.create(**chat(f"question {i}"), max_tokens=4)
            rule = parse_rule(f"{status},path=/v1/chat/completions")
            sims[1].faults.set_schedule(FaultSchedule((rule,)))
            pools = router.app.state.shared.backends.pools
            pools.replace(MODEL, [p.base_url for p in pods], served_model=MODEL)
            assert any(p.warming for p in pools.pods(MODEL))

            async def let_in() -> bool:
                return not any(p.warming for p in pools.pods(MODEL))

            await eventually(let_in, what="the failing pod to be let in", within=10)
            failed = counter(router.registry, "gptoss_router_prefix_warmups", outcome="failed")
            assert failed == 1


async def test_the_first_replica_after_zero_is_warmed_with_what_the_providers_were_serving() -> (
    None
):
    """Scaled to zero, the app's requests spill to a provider; the router learns their
    beginnings all the same, and the replica that comes up is warmed with them."""
    with fleet() as hosted, two_pods() as (sims, pods):
        settings = router_settings(hosted, local={"pods": []})
        async with (
            live_router(settings) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0
            ) as client,
        ):
            for i in range(6):
                reply = await client.chat.completions.with_raw_response.create(
                    **chat(f"question {i}"), max_tokens=4
                )
                assert reply.headers["x-gptoss-backend"] != "local"
            pools = router.app.state.shared.backends.pools
            pools.replace(MODEL, [pods[1].base_url], served_model=MODEL)
            assert [p.warming for p in pools.pods(MODEL)] == [True]

            async def serving_locally() -> bool:
                return not pools.pods(MODEL)[0].warming and pools.pods(MODEL)[0].stats is not None

            await eventually(serving_locally, what="the replica to take traffic", within=30)
            hits = counter(sims[1].registry, "vllm:prefix_cache_hits")
            reply = await client.chat.completions.with_raw_response.create(
                **chat("the first question it serves"), max_tokens=4
            )
            assert reply.headers["x-gptoss-backend"] == "local"
            assert counter(router.registry, "gptoss_router_prefix_warmups", outcome="ok") == 1
            assert counter(sims[1].registry, "vllm:prefix_cache_hits") > hits
