"""Spilled demand summed over every router replica (pure): samples keyed by GptOssDeployment,
gauges added up, counters that survive replicas restarting, appearing and going away."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from gptoss_operator.autoscaling.spill import (
    CounterSum,
    RouterSpill,
    RouterTotals,
    parse_router,
    router_samples,
    spill_for,
)


def _router(inflight: dict[tuple[str, str], float], spilled: dict[tuple[str, str], float]) -> str:
    """A router's /metrics as prometheus_client writes it, keyed by (model, deployment)."""
    registry = CollectorRegistry()
    gauge = Gauge("gptoss_router_spilled_inflight", "x", ["model", "deployment"], registry=registry)
    counter = Counter(
        "gptoss_router_spilled_requests",
        "x",
        ["model", "reason", "deployment"],
        registry=registry,
    )
    for (model, deployment), value in inflight.items():
        gauge.labels(model, deployment).set(value)
    for (model, deployment), value in spilled.items():
        counter.labels(model, "saturated", deployment).inc(value)
    return generate_latest(registry).decode()


def test_a_sample_labelled_with_a_deployment_counts_only_for_that_deployment() -> None:
    text = _router(
        {("gpt-oss-20b", "ml/chat"): 2, ("gpt-oss-20b", "ml/batch"): 7},
        {("gpt-oss-20b", "ml/chat"): 5, ("gpt-oss-20b", "ml/batch"): 50},
    )
    assert parse_router(text, "gpt-oss-20b", "ml/chat") == RouterSpill(inflight=2, total=5)
    assert parse_router(text, "gpt-oss-20b", "ml/batch") == RouterSpill(inflight=7, total=50)


def test_a_sample_without_a_deployment_counts_for_every_deployment_of_its_model() -> None:
    text = _router({("gpt-oss-20b", ""): 3, ("gpt-oss-120b", ""): 9}, {("gpt-oss-20b", ""): 4})
    assert parse_router(text, "gpt-oss-20b", "ml/chat") == RouterSpill(inflight=3, total=4)
    assert parse_router(text, "gpt-oss-20b", "ml/other") == RouterSpill(inflight=3, total=4)
    assert parse_router(text, "gpt-oss-120b", "ml/big").inflight == 9


def test_the_gauges_of_every_router_add_up() -> None:
    a = router_samples(_router({("gpt-oss-20b", "ml/chat"): 1}, {}))
    b = router_samples(_router({("gpt-oss-20b", "ml/chat"): 2}, {}))
    totals = RouterTotals()
    spill = totals.observe(
        {
            "router a": spill_for(a, "gpt-oss-20b", "ml/chat"),
            "router b": spill_for(b, "gpt-oss-20b", "ml/chat"),
        }
    )
    assert spill.inflight == 3


def test_each_routers_counter_growth_is_added() -> None:
    total = CounterSum()
    total.observe({"a": 100, "b": 40})
    assert total.observe({"a": 103, "b": 42}) == 5


def test_a_counter_that_went_down_is_a_restart_counted_from_zero() -> None:
    total = CounterSum()
    total.observe({"a": 100, "b": 40})
    assert total.observe({"a": 2, "b": 40}) == 2


def test_a_router_that_appears_or_goes_away_is_no_burst() -> None:
    total = CounterSum()
    total.observe({"a": 100})
    assert total.observe({"a": 100, "b": 5000}) == 0
    assert total.observe({"b": 5001}) == 1
    assert total.observe({"a": 100_000, "b": 5001}) == 1


def test_a_router_that_did_not_answer_counts_again_from_its_next_answer() -> None:
    """What b counted while silent (4) is left out: added in one reading it would be a burst of
    that one tick (a minute's spill read as a second's)."""
    total = CounterSum()
    total.observe({"a": 10, "b": 10})
    assert total.observe({"a": 11, "b": None}) == 1
    assert total.observe({"a": 11, "b": 14}) == 1
    assert total.observe({"a": 12, "b": 16}) == 4


def test_a_sample_that_is_not_a_finite_count_makes_the_router_unread() -> None:
    for bad in ("NaN", "+Inf", "-3"):
        text = (
            "# TYPE gptoss_router_spilled_requests counter\n"
            f'gptoss_router_spilled_requests_total{{model="m",reason="saturated"}} {bad}\n'
        )
        with pytest.raises(ValueError, match="gptoss_router_spilled_requests_total is"):
            router_samples(text)


def test_reading_routers_apart_adds_what_they_spilled_where_one_url_read_a_burst() -> None:
    """Router a spills twice and router b once. Through one URL (the router Service) the reads
    come from whichever router answers, and b's 41 followed by a's 102 looked like 61 new
    spills; read per router, the total grows by 3."""
    answers = [("a", 100), ("a", 101), ("b", 40), ("b", 41), ("a", 102)]
    through_service = [value for _, value in answers]
    growth = [later - earlier for earlier, later in pairwise(through_service)]
    assert max(growth) == 61
    total = CounterSum()
    seen: dict[str, float | None] = {}
    for router, value in answers:
        seen[router] = value
        total.observe(seen)
    assert total.total == 3


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["count", "restart", "vanish", "silent"]),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=60,
)


@given(_EVENTS)
def test_the_total_never_goes_down_and_never_exceeds_what_was_counted(
    events: list[tuple[str, str, int]],
) -> None:
    counters: dict[str, int] = {}
    counted = 0
    total = CounterSum()
    last = 0.0
    for router, what, amount in events:
        silent: set[str] = set()
        if what == "count":
            counters[router] = counters.get(router, 0) + amount
            counted += amount
        elif what == "restart":
            counters[router] = amount
            counted += amount
        elif what == "vanish":
            counters.pop(router, None)
        else:
            silent.add(router)
        now = total.observe({r: None if r in silent else v for r, v in counters.items()})
        assert last <= now <= counted
        last = now
