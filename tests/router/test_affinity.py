"""Prefix affinity: conversations keep their pod, within bounded load, the same on every replica."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from gptoss_router.routing.affinity import Ring, choose, prefix_key

PODS = [f"http://10.0.0.{i}:8000" for i in range(1, 5)]
SYSTEM = {"role": "system", "content": "You are the support agent of Example Corp. " * 40}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _key(i: int) -> int:
    return int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:8], "big")


def chat(*turns: str, model: str = "gpt-oss-120b") -> dict[str, object]:
    messages: list[dict[str, str]] = [SYSTEM]
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {"model": model, "messages": messages, "tools": TOOLS}


def test_every_turn_of_a_conversation_has_the_key_of_its_first_turn() -> None:
    first = prefix_key("chat", chat("my order is late"))
    later = prefix_key("chat", chat("my order is late", "which order?", "order 42"))
    other = prefix_key("chat", chat("cancel my plan"))
    assert first is not None and first == later != other


def test_a_prompt_cache_key_names_the_conversation_whatever_the_messages() -> None:
    one = prefix_key("chat", {**chat("a"), "prompt_cache_key": "user-7"})
    two = prefix_key("chat", {**chat("b"), "prompt_cache_key": "user-7"})
    assert one == two != prefix_key("chat", chat("a"))


def test_responses_and_completions_requests_have_keys_too() -> None:
    items = [{"role": "user", "content": "hi"}]
    follow = [*items, {"type": "function_call_output", "call_id": "c", "output": "{}"}]
    assert prefix_key("responses", {"input": items}) == prefix_key("responses", {"input": follow})
    assert prefix_key("responses", {"input": items, "instructions": "be brief"}) != prefix_key(
        "responses", {"input": items}
    )
    assert prefix_key("completions", {"prompt": "Once upon"}) is not None
    assert prefix_key("completions", {"prompt": 42}) is None


def test_every_replica_builds_the_same_ring_and_picks_the_same_pod() -> None:
    key = prefix_key("chat", chat("my order is late"))
    assert key is not None
    loads = dict.fromkeys(PODS, 0)
    picks = {choose(Ring(random.sample(PODS, len(PODS))), key, loads) for _ in range(10)}
    assert len(picks) == 1


def test_a_pod_that_drops_out_moves_only_its_own_conversations() -> None:
    keys = [_key(i) for i in range(400)]
    before = {k: choose(Ring(PODS), k, dict.fromkeys(PODS, 0)) for k in keys}
    gone = PODS[0]
    rest = [p for p in PODS if p != gone]
    after = {k: choose(Ring(rest), k, dict.fromkeys(rest, 0)) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(before[k] == gone for k in moved)


def test_a_saturated_pod_is_skipped_for_the_next_one_on_the_ring_the_same_on_every_replica() -> (
    None
):
    ring, key = Ring(PODS), 12345
    home = choose(ring, key, dict.fromkeys(PODS, 0))
    assert home is not None
    without = {p: 0 for p in PODS if p != home}
    moved = choose(ring, key, without)
    assert moved is not None and moved != home
    assert moved == ring.walk(key)[1]


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=4, max_size=4))
def test_no_pod_is_given_a_request_that_takes_it_past_the_bound_when_another_has_room(
    load_values: list[int],
) -> None:
    loads = dict(zip(PODS, load_values, strict=True))
    pod = choose(Ring(PODS), 987654321, loads)
    assert pod is not None
    cap = max(4, -(-1.25 * (sum(load_values) + 1) // len(PODS)))
    if any(v + 1 <= cap for v in load_values):
        assert loads[pod] + 1 <= cap


def test_many_conversations_spread_within_the_bound() -> None:
    ring, loads = Ring(PODS), dict.fromkeys(PODS, 0)
    for i in range(2000):
        pod = choose(ring, _key(i), loads)
        assert pod is not None
        loads[pod] += 1
    mean = sum(loads.values()) / len(loads)
    assert max(loads.values()) <= max(4, 1.25 * mean + 1)
    assert Counter(loads).most_common(1)[0][1] < 2000


def test_no_pod_means_no_choice() -> None:
    assert choose(Ring(PODS), 1, {}) is None
