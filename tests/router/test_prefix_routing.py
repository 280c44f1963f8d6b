"""Conversations land on the pod that holds their prefix, on every router, and move only when
they must: the policy alone, the router's memory of moves, and real routers over simulated pods.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.router.live import router_in_thread
from tests.router.router_processes import router_processes
from tests.waiting import eventually

import gptoss_router.routing.backends as backends_module
from gptoss_router.config.models import SpillCondition
from gptoss_router.config.prices import PriceCap
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.openai.responses_state import stateless_payload, stored_items
from gptoss_router.routing.affinity import Ring, prefix_key
from gptoss_router.routing.backends import Backends
from gptoss_router.routing.policy import Demand, Limits, PodView, plan
from gptoss_router.settings import RouterSettings
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import FaultSchedule, parse_rule
from gptoss_sim.server import Running, running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

MODEL = "gpt-oss-120b"
PODS = [f"http://10.0.0.{i}:8000" for i in range(1, 5)]
LIMITS = Limits(
    local=True,
    hosted=False,
    providers=None,
    max_price=PriceCap(),
    spill_when=frozenset(SpillCondition),
    latency_target_s=20.0,
    max_queue_depth=4,
    max_inflight=256,
)
SYSTEM = "You are the billing agent of Example Corp. Answer from the tools only. " * 30


def messages(first: str, *more: str) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": first}]
    for i, text in enumerate(more):
        turns.append({"role": "assistant" if i % 2 == 0 else "user", "content": text})
    return turns


def views(loads: dict[str, int] | None = None) -> list[PodView]:
    loads = loads or {}
    return [PodView(p, 0, loads.get(p, 0), loads.get(p, 0), True, False) for p in PODS]


def demand(key: int | None, pinned: str | None = None) -> Demand:
    return Demand(frozenset({"chat"}), 100, 100, prefix=key, pinned=pinned)


def first_pod(pods: list[PodView], wanted: Demand) -> str:
    ring = Ring(p.key for p in pods)
    chosen = plan(pods, [], wanted, LIMITS, random.Random(1), None, ring)  # noqa: S311
    return chosen.candidates[0].key


def test_the_same_conversation_gets_the_same_pod_whatever_the_randomness() -> None:
    key = prefix_key("chat", {"model": MODEL, "messages": messages("refund order 42")})
    picks = set()
    for seed in range(20):
        ring = Ring(PODS)
        chosen = plan(views(), [], demand(key), LIMITS, random.Random(seed), None, ring)  # noqa: S311
        picks.add(chosen.candidates[0].key)
        assert {c.key for c in chosen.candidates} == set(PODS)
    assert len(picks) == 1


def test_without_a_prefix_key_the_less_loaded_of_two_random_pods_leads() -> None:
    loads = {PODS[0]: 9, PODS[1]: 9, PODS[2]: 9, PODS[3]: 0}
    leaders = {first_pod(views(loads), demand(None)) for _ in range(10)}
    assert leaders <= set(PODS)


def test_a_pinned_pod_is_kept_while_it_stays_within_the_bound_and_left_when_it_does_not() -> None:
    key = 424242
    home = first_pod(views(), demand(key))
    elsewhere = next(p for p in PODS if p != home)
    assert first_pod(views(), demand(key, pinned=elsewhere)) == elsewhere
    hot = {elsewhere: 20}  # over 1.25 x the mean of 5.25 and over the floor of 4
    assert first_pod(views(hot), demand(key, pinned=elsewhere)) == home


def test_a_saturated_pod_loses_its_conversations_to_the_next_pod_on_the_ring() -> None:
    key = 99
    home = first_pod(views(), demand(key))
    saturated = [
        PodView(p.key, 4 if p.key == home else 0, 0, 0, True, False) for p in views()
    ]  # 4 waiting: max_queue_depth
    moved = first_pod(saturated, demand(key, pinned=home))
    assert moved == Ring(PODS).walk(key)[1] != home


def test_failover_after_the_chosen_pod_follows_the_ring() -> None:
    key = 777
    ring = Ring(PODS)
    chosen = plan(views(), [], demand(key), LIMITS, random.Random(3), None, ring)  # noqa: S311
    assert [c.key for c in chosen.candidates] == ring.walk(key)


def test_a_conversation_that_had_to_move_stays_on_its_new_pod_when_the_old_one_returns() -> None:
    settings = RouterSettings(
        allow_anonymous=True,
        models={MODEL: {"local": {"pods": PODS[:3], "scrape": False}}},
    )
    backends = Backends(settings, clock=lambda: 0.0, rng=random.Random(5))  # noqa: S311
    backends.pools.replace(MODEL, PODS[:3], served_model=MODEL)
    body = httpx.Request(
        "POST", "http://x", json={"model": MODEL, "messages": messages("my invoice")}
    ).content
    inbound = read_inbound("chat", body)
    model = settings.models[MODEL]

    def lead() -> str:
        """Where the next turn goes, once that pod has answered it."""
        chosen = backends.plan_for(inbound, model, LIMITS)
        target = backends.target(chosen.candidates[0], MODEL)
        assert target is not None
        backends.served(chosen, target)
        return target.key

    home = lead()
    assert lead() == home
    backends.pools.replace(MODEL, [p for p in PODS[:3] if p != home], served_model=MODEL)
    moved = lead()
    assert moved != home
    backends.pools.replace(MODEL, PODS[:3], served_model=MODEL)
    assert lead() == moved


# -- real routers over simulated pods ------------------------------------------------------


@contextmanager
def vllm_pods(count: int) -> Iterator[list[Running]]:
    capacity = CapacityParams(startup_s=0, step_base_s=0.001, step_per_seq_s=0.0)
    with ExitStack() as stack:
        yield [
            stack.enter_context(running(VllmSim(VllmConfig(model=MODEL, capacity=capacity))))
            for _ in range(count)
        ]


def pod_counter(pod: Running, name: str) -> float:
    text = httpx.get(f"{pod.base_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{name}_total"
    )


def router_config(pods: list[Running]) -> dict[str, Any]:
    return {
        "allow_anonymous": True,
        "log_level": "warning",
        "models": {MODEL: {"local": {"pods": [p.base_url for p in pods], "scrape": True}}},
        # Scraped often; a pod scraped late on a busy machine stays fresh, so every pod stays
        # on the ring, as the spread the test asserts needs.
        "tuning": {"scrape_interval_s": 0.05, "stale_after_s": 30.0},
    }


def converse(client: openai.OpenAI, first: str, turns: int) -> None:
    history = messages(first)
    for turn in range(turns):
        reply = client.chat.completions.create(model=MODEL, messages=history, max_tokens=8)  # type: ignore[arg-type]
        history += [
            {"role": "assistant", "content": reply.choices[0].message.content or ""},
            {"role": "user", "content": f"and then step {turn}?"},
        ]


def test_two_router_processes_send_a_conversation_to_one_pod_and_its_prefix_hits_there(
    tmp_path: Path,
) -> None:
    with vllm_pods(4) as pods, router_processes([router_config(pods)] * 2, tmp_path) as routers:
        clients = [
            openai.OpenAI(base_url=r.openai_base_url, api_key="unused", max_retries=0)
            for r in routers
        ]
        before = [pod_counter(p, "vllm:request_success") for p in pods]
        # Turns alternate between the two routers.
        history = messages("why was I charged twice?")
        for turn in range(6):
            client = clients[turn % 2]
            reply = client.chat.completions.create(model=MODEL, messages=history, max_tokens=8)  # type: ignore[arg-type]
            history += [
                {"role": "assistant", "content": reply.choices[0].message.content or ""},
                {"role": "user", "content": f"turn {turn}: which card?"},
            ]
        served = [
            pod_counter(p, "vllm:request_success") - b for p, b in zip(pods, before, strict=True)
        ]
        assert sorted(served) == [0, 0, 0, 6]
        home = pods[served.index(6)]
        hits = pod_counter(home, "vllm:prefix_cache_hits")
        queries = pod_counter(home, "vllm:prefix_cache_queries")
        # Every turn after the first finds at least the system prompt cached (~16 blocks).
        assert queries > 0 and hits / queries > 0.5
        # Other conversations spread over the pods.
        for i in range(12):
            converse(clients[i % 2], f"question number {i} about my plan", 1)
        spread = [pod_counter(p, "vllm:request_success") for p in pods]
        assert sum(1 for n in spread if n > 0) >= 3


def test_a_conversation_moves_when_its_pod_fails_and_stays_when_the_pod_comes_back() -> None:
    capacity = CapacityParams(startup_s=0, step_base_s=0.001, step_per_seq_s=0.0)
    sims = [VllmSim(VllmConfig(model=MODEL, capacity=capacity)) for _ in range(3)]
    with ExitStack() as stack:
        pods = [stack.enter_context(running(sim)) for sim in sims]
        settings = RouterSettings(
            allow_anonymous=True,
            models={MODEL: {"local": {"pods": [p.base_url for p in pods], "scrape": True}}},  # type: ignore[dict-item]
            tuning={  # type: ignore[arg-type]
                "scrape_interval_s": 0.05,
                "consecutive_failures": 1,
                "base_ejection_s": 0.5,
                "probe_interval_s": 0.1,
            },
        )
        url, _ = stack.enter_context(router_in_thread(settings))
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        history = messages("my card was declined")

        def turn(n: int) -> list[float]:
            reply = client.chat.completions.create(model=MODEL, messages=history, max_tokens=8)  # type: ignore[arg-type]
            history.extend(
                [
                    {"role": "assistant", "content": reply.choices[0].message.content or ""},
                    {"role": "user", "content": f"turn {n}: what now?"},
                ]
            )
            return [pod_counter(p, "vllm:request_success") for p in pods]

        for n in range(3):
            served = turn(n)
        home = served.index(3)
        sims[home].faults.set_schedule(
            FaultSchedule((parse_rule("status=503,path=/v1/chat/completions"),))
        )
        served = turn(3)  # the home pod fails it: another pod answers
        moved = next(i for i, n in enumerate(served) if i != home and n == 1)
        sims[home].faults.set_schedule(FaultSchedule())

        def home_is_back() -> bool:
            text = httpx.get(f"{url}/metrics", timeout=5).text
            ejected = [
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "gptoss_router_local_pods" and s.labels.get("state") == "ejected"
            ]
            return ejected == [0.0]

        eventually(home_is_back, what="the failed pod to be readmitted", timeout=10)
        hits_before = pod_counter(pods[moved], "vllm:prefix_cache_hits")
        served = turn(4)
        served = turn(5)
        assert served[home] == 3 and served[moved] == 3 and sum(served) == 6
        # The moved conversation's prefix is cached where it went.
        assert pod_counter(pods[moved], "vllm:prefix_cache_hits") > hits_before


# -- what names a conversation, and the ring it is placed on ------------------------------


def _as_routed(payload: dict[str, Any]) -> dict[str, Any]:
    """A Responses request as the router routes it: made stateless, its items given ids."""
    return stateless_payload(payload, [], stored_items(payload.get("input")))


def test_a_responses_conversation_keeps_its_key_whatever_ids_the_router_gives_its_items() -> None:
    developer = {"role": "developer", "content": SYSTEM}
    first = {"role": "user", "content": "my card was charged twice"}
    turn1 = {"model": MODEL, "store": False, "input": [developer, first]}
    turn2 = {
        "model": MODEL,
        "store": False,
        "input": [developer, first, {"role": "assistant", "content": "Checking."}, _user("?")],
    }
    other = {"model": MODEL, "store": False, "input": [developer, _user("lost my password")]}
    keys = {prefix_key("responses", _as_routed(turn1)) for _ in range(3)}
    keys.add(prefix_key("responses", _as_routed(turn2)))
    assert len(keys) == 1 and None not in keys
    assert prefix_key("responses", _as_routed(other)) not in keys


def test_a_long_tool_list_leaves_each_conversation_its_own_key() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": f"tool_{i}", "description": "x" * 500, "parameters": {}},
        }
        for i in range(120)  # about 67 KB of schemas
    ]
    keys = {
        prefix_key("chat", {"model": MODEL, "tools": tools, "messages": messages(f"case {n}")})
        for n in range(50)
    }
    assert len(keys) == 50


def test_apps_limited_to_some_namespaces_share_the_models_one_ring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[frozenset[str]] = []

    class Counted(Ring):
        def __init__(self, pods: Iterable[str]) -> None:
            super().__init__(pods)
            built.append(self.pods)

    monkeypatch.setattr(backends_module, "Ring", Counted)
    pods = [f"http://10.0.1.{i}:8000" for i in range(8)]
    settings = RouterSettings(
        allow_anonymous=True, models={MODEL: {"local": {"pods": pods[:1], "scrape": False}}}
    )
    backends = Backends(settings, clock=lambda: 0.0, rng=random.Random(1))  # noqa: S311
    namespaces = {p: ("team-a" if i < 4 else "shared") for i, p in enumerate(pods)}
    backends.pools.replace(MODEL, pods, served_model=MODEL, namespaces=namespaces)
    team_a = replace(LIMITS, namespaces=frozenset({"team-a"}))
    chosen = []
    for n in range(40):
        body = httpx.Request(
            "POST", "http://x", json={"model": MODEL, "messages": messages(f"q{n}")}
        )
        inbound = read_inbound("chat", body.content)
        limits = team_a if n % 2 else LIMITS
        chosen.append(backends.plan_for(inbound, settings.models[MODEL], limits))
    assert built == [frozenset(pods)]
    assert all(c.candidates[0].key in pods[:4] for c in chosen[1::2])


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}
