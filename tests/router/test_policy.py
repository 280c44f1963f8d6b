"""The routing decision: local first by P2C, then providers by cost under a latency target."""

from __future__ import annotations

import random

from gptoss_router.config.models import SpillCondition
from gptoss_router.config.prices import Price, PriceCap
from gptoss_router.config.providers import ProviderKind
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.routing.policy import Demand, Limits, Plan, PodView, ProviderView, plan
from gptoss_router.state.speed import SpeedEstimate


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible choices, not secrets


DEMAND = Demand(features=frozenset({"chat"}), input_tokens=1000, output_tokens=500)
FEATURES = frozenset({"chat", "tools", "json_schema", "json_schema_strict"})


def pod(
    key: str,
    *,
    waiting: int = 0,
    running: int = 0,
    inflight: int = 0,
    fresh: bool = True,
    ejected: bool = False,
    warming: bool = False,
) -> PodView:
    return PodView(key, waiting, running, inflight, fresh and not warming, ejected, warming)


def provider(
    key: str,
    price_out: float,
    *,
    ttft: float = 0.5,
    tps: float = 500.0,
    caps: frozenset[str] = FEATURES,
    ejected: bool = False,
    spent: bool = False,
    back_in_s: float = 0.0,
) -> ProviderView:
    return ProviderView(
        key,
        Price(input=0.1, output=price_out),
        SpeedEstimate(ttft, tps),
        caps,
        ejected,
        spent or back_in_s > 0,
        back_in_s,
    )


def limits(**changes: object) -> Limits:
    base: dict[str, object] = {
        "local": True,
        "hosted": True,
        "providers": None,
        "max_price": PriceCap(),
        "spill_when": frozenset(SpillCondition),
        "latency_target_s": 10.0,
        "max_queue_depth": 2,
        "max_inflight": 100,
    }
    base.update(changes)
    return Limits(**base)  # type: ignore[arg-type]


def keys(pods: list[PodView], hosted: list[ProviderView], **changes: object) -> list[str]:
    chosen = plan(pods, hosted, DEMAND, limits(**changes), seeded(7))
    return [c.key for c in chosen.candidates]


def test_a_local_pod_with_room_leads_and_providers_follow_for_failover() -> None:
    order = keys([pod("a")], [provider("groq", 0.6)])
    assert order == ["a", "groq"]


def test_two_random_choices_pick_the_pod_with_the_shorter_queue() -> None:
    pods = [pod("a", waiting=1), pod("b", waiting=0)]
    for seed in range(20):
        chosen = plan(pods, [], DEMAND, limits(), seeded(seed))
        assert chosen.candidates[0].key == "b"


def test_saturated_pods_spill_to_the_cheapest_provider_and_stay_as_last_resort() -> None:
    pods = [pod("a", waiting=2), pod("b", waiting=3)]
    chosen = plan(
        pods, [provider("pricey", 0.9), provider("cheap", 0.3)], DEMAND, limits(), seeded(1)
    )
    assert [c.key for c in chosen.candidates] == ["cheap", "pricey", "a", "b"]
    assert chosen.spill == "saturated"


def test_no_pods_at_all_is_a_spill_because_the_model_is_scaled_to_zero() -> None:
    chosen = plan([], [provider("groq", 0.6)], DEMAND, limits(), seeded(1))
    assert chosen.spill == "scaled_to_zero"


def test_a_first_replica_still_warming_is_part_of_the_cold_start_the_providers_cover() -> None:
    groq = [provider("groq", 0.6)]
    only_at_zero = limits(spill_when=frozenset({SpillCondition.SCALED_TO_ZERO}))
    warming = plan([pod("a", warming=True)], groq, DEMAND, only_at_zero, seeded(1))
    failing = plan(
        [pod("a", warming=True), pod("b", ejected=True)], groq, DEMAND, only_at_zero, seeded(1)
    )
    assert warming.spill == "scaled_to_zero" and [c.key for c in warming.candidates] == ["groq"]
    assert failing.candidates == () and failing.hold  # a failing replica is no cold start


def test_ejected_or_stale_pods_make_local_unavailable() -> None:
    chosen = plan(
        [pod("a", ejected=True), pod("b", fresh=False)],
        [provider("groq", 0.6)],
        DEMAND,
        limits(),
        seeded(1),
    )
    assert chosen.spill == "unavailable" and [c.key for c in chosen.candidates] == ["groq"]


def test_a_provider_missing_the_latency_target_goes_after_those_that_meet_it() -> None:
    slow_cheap = provider("slow", 0.1, ttft=30.0)
    order = keys([], [slow_cheap, provider("fast", 0.6)])
    assert order == ["fast", "slow"]


def test_a_provider_over_the_price_cap_is_never_a_candidate() -> None:
    order = keys(
        [], [provider("cheap", 0.3), provider("pricey", 0.9)], max_price=PriceCap(output=0.5)
    )
    assert order == ["cheap"]


def test_providers_that_cannot_serve_the_features_are_skipped() -> None:
    demand = Demand(
        features=frozenset({"chat", "json_schema_strict"}), input_tokens=10, output_tokens=10
    )
    chosen = plan(
        [],
        [provider("cerebras", 0.1, caps=frozenset({"chat"})), provider("groq", 0.6)],
        demand,
        limits(),
        seeded(1),
    )
    assert [c.key for c in chosen.candidates] == ["groq"]


def test_ejected_and_rate_limited_providers_are_skipped() -> None:
    order = keys(
        [],
        [
            provider("out", 0.1, ejected=True),
            provider("spent", 0.1, spent=True),
            provider("ok", 0.6),
        ],
    )
    assert order == ["ok"]


def test_only_providers_the_spillover_allows_are_used() -> None:
    order = keys(
        [], [provider("groq", 0.6), provider("together", 0.6)], providers=frozenset({"together"})
    )
    assert order == ["together"]


def test_a_model_that_may_not_spill_when_saturated_queues_locally() -> None:
    order = keys(
        [pod("a", waiting=5)],
        [provider("groq", 0.6)],
        spill_when=frozenset({SpillCondition.SCALED_TO_ZERO}),
    )
    assert order == ["a"]


def test_hosted_only_skips_local_pods_even_with_room() -> None:
    chosen = plan([pod("a")], [provider("groq", 0.6)], DEMAND, limits(local=False), seeded(1))
    assert [c.key for c in chosen.candidates] == ["groq"] and chosen.spill == "hosted_only"


def test_local_only_never_lists_a_provider() -> None:
    chosen = plan(
        [pod("a", waiting=9)],
        [provider("groq", 0.6)],
        DEMAND,
        limits(hosted=False),
        seeded(1),
    )
    assert [c.key for c in chosen.candidates] == ["a"]


def test_the_routers_own_inflight_count_fills_a_pod_between_scrapes() -> None:
    order = keys([pod("a", inflight=100)], [provider("groq", 0.6)])
    assert order[0] == "groq"


def holds(pods: list[PodView], offered: list[ProviderView], **changes: object) -> bool:
    chosen = plan(pods, offered, DEMAND, limits(**changes), seeded(7))
    return chosen.hold and not chosen.candidates


def test_a_model_at_zero_that_may_not_spill_holds_its_requests() -> None:
    assert holds([], [provider("groq", 0.6)], providers=frozenset())
    assert holds([], [provider("groq", 0.6)], spill_when=frozenset({SpillCondition.SATURATED}))
    assert holds([], [], hosted=False)


def test_pods_that_are_all_ejected_or_stale_hold_when_nothing_may_spill() -> None:
    gone = [pod("a", ejected=True), pod("b", fresh=False)]
    assert holds(gone, [], spill_when=frozenset({SpillCondition.SCALED_TO_ZERO}))
    assert holds(gone, [provider("groq", 0.6)], max_price=PriceCap(output=0.1))


def test_providers_only_ejected_or_spent_for_now_do_not_hold() -> None:
    assert not holds([], [provider("groq", 0.6, ejected=True), provider("fw", 0.9, spent=True)])


def _spent_plan(offered: list[ProviderView], **changes: object) -> Plan:
    return plan([], offered, DEMAND, limits(**changes), seeded(7), spent_wait_s=2.0)


def test_a_request_only_spent_providers_could_take_waits_for_the_first_reset_near_enough() -> None:
    chosen = _spent_plan([provider("groq", 0.6, back_in_s=5.0), provider("fw", 0.9, back_in_s=0.7)])
    assert chosen.hold and not chosen.candidates
    assert chosen.back_in_s == 0.7


def test_a_first_reset_past_the_wait_is_not_waited_for_but_said() -> None:
    chosen = _spent_plan([provider("groq", 0.6, back_in_s=3.0)])
    assert not chosen.hold and not chosen.candidates
    assert chosen.back_in_s == 3.0


def test_only_spent_providers_the_request_may_use_count_for_the_wait() -> None:
    capped = _spent_plan(
        [provider("groq", 0.6, back_in_s=0.5), provider("fw", 0.9, ejected=True)],
        max_price=PriceCap(output=0.5),
    )
    assert capped.back_in_s is None  # groq is over the cap; an ejected provider has no reset
    assert capped.hold  # nothing may spill, so it waits for a local pod as before
    ejected = _spent_plan([provider("fw", 0.9, ejected=True, back_in_s=0.5)])
    assert (ejected.hold, ejected.back_in_s) == (False, None)


def test_a_hosted_only_request_is_never_held() -> None:
    assert not holds([], [], local=False)


def test_a_plan_with_any_candidate_does_not_hold() -> None:
    saturated = [pod("a", waiting=5)]
    chosen = plan(saturated, [], DEMAND, limits(providers=frozenset()), seeded(7))
    assert [c.key for c in chosen.candidates] == ["a"] and not chosen.hold


VLLM = dialect_for(ProviderKind.VLLM).capabilities


def test_a_follow_up_turn_by_previous_response_id_never_goes_to_a_vllm_pod() -> None:
    stateful = Demand(
        features=frozenset({"responses", "responses_stateful"}), input_tokens=10, output_tokens=10
    )
    keeps_state = provider("fireworks", 0.6, caps=frozenset({"responses", "responses_stateful"}))
    stateless = provider("groq", 0.3, caps=frozenset({"responses"}))
    chosen = plan([pod("a")], [keeps_state, stateless], stateful, limits(), seeded(1), VLLM)
    assert [c.key for c in chosen.candidates] == ["fireworks"]
    assert chosen.spill == "unsupported"
    nowhere = plan([pod("a")], [stateless], stateful, limits(), seeded(1), VLLM)
    assert nowhere.candidates == () and not nowhere.hold


def test_a_streamed_responses_request_with_tools_is_served_by_a_free_pod() -> None:
    agentic = Demand(
        features=frozenset({"responses", "tools", "responses_stream_tools"}),
        input_tokens=10,
        output_tokens=10,
    )
    chosen = plan([pod("a")], [provider("groq", 0.3)], agentic, limits(), seeded(1), VLLM)
    assert [c.kind for c in chosen.candidates][:1] == ["local"]
    assert chosen.spill is None


def test_a_responses_request_goes_to_a_chat_only_backend_that_can_serve_its_translation() -> None:
    agentic = Demand(
        features=frozenset({"responses", "tools", "responses_stream_tools"}),
        input_tokens=10,
        output_tokens=10,
        fallback=frozenset({"chat", "tools"}),
    )
    chat_only = provider("cerebras", 0.3, caps=frozenset({"chat", "tools"}))
    no_tools = provider("plain", 0.1, caps=frozenset({"chat"}))
    chosen = plan([], [chat_only, no_tools], agentic, limits(), seeded(1), VLLM)
    assert [c.key for c in chosen.candidates] == ["cerebras"]
    untranslatable = Demand(agentic.features, input_tokens=10, output_tokens=10)
    assert plan([], [chat_only], untranslatable, limits(), seeded(1), VLLM).candidates == ()
