"""The economics simulator, fast: its serving model, the hindsight optimum, and the whole bench
on the first hour of the shipped traces (so the bench cannot rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.econ.optimum import Clairvoyant, Unforeseen, optimal_schedule
from bench.econ.policies import Always, Cost, Restarted, cost_policy
from bench.econ.run import Draws, replay
from bench.econ.serving import Pool, Shape, replica_for, serve
from bench.econ.traces import KINDS, Trace
from bench.econ.world import HostedProvider, World

from bench import economics

SHAPE = Shape(input_tokens=1000, output_tokens=500)


def _steady(rate: float, minutes: int) -> Trace:
    return Trace("steady", 1, SHAPE.input_tokens, SHAPE.output_tokens, (rate,) * minutes)


def _draws(rate: float, minutes: int, world: World, cold_s: float = 180.0) -> Draws:
    ticks = int(minutes * 60 / world.tick_s)
    return Draws((rate * world.tick_s,) * ticks, (cold_s,) * 64)


def test_a_replica_is_billed_by_the_period_it_was_started_in() -> None:
    hourly = World(gpu_hourly=2.0, billing_s=3600.0)
    pool = Pool()
    pool.resize(1, 0.0, hourly, (180.0,))
    pool.resize(0, 600.0, hourly, (180.0,))  # ten minutes used, one hour billed
    assert pool.rounding_dollars == pytest.approx(50 / 60 * 2 * 2.0)
    per_second = World(gpu_hourly=2.0, billing_s=1.0)
    pool = Pool()
    pool.resize(1, 0.0, per_second, (180.0,))
    pool.resize(0, 600.0, per_second, (180.0,))
    assert pool.rounding_dollars == 0.0


def test_overflow_beyond_every_providers_rate_limit_fails_without_replicas() -> None:
    tokens = SHAPE.input_tokens + SHAPE.output_tokens
    small = HostedProvider("only", 0.15, 0.60, 60 * tokens, 0.4, 0.5, 0.0)  # 1 request/s
    world = World(providers=(small,))
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    out = serve(Pool(), 30.0, 0, replica, spill=True, world=world, shape=SHAPE)  # 3/s
    assert out.hosted == pytest.approx(10.0)
    assert out.failed == pytest.approx(20.0)
    assert out.good < out.hosted


def test_stepping_every_second_the_router_holds_what_no_provider_took_for_the_next_reset() -> None:
    tokens = SHAPE.input_tokens + SHAPE.output_tokens
    small = HostedProvider("only", 0.15, 0.60, 60 * tokens, 0.4, 0.5, 0.0)  # 1 request/s
    world = World(providers=(small,), tick_s=1.0)
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    pool = Pool()
    burst = serve(pool, 3.0, 0, replica, spill=True, world=world, shape=SHAPE)
    assert (burst.hosted, burst.failed) == (pytest.approx(1.0), 0.0)
    assert pool.awaiting_reset == pytest.approx(2.0)  # held, not failed
    after = serve(pool, 0.0, 0, replica, spill=True, world=world, shape=SHAPE)
    assert after.hosted == pytest.approx(1.0)  # one of them at the reset
    assert after.failed == pytest.approx(1.0)  # the other had waited once already
    assert pool.awaiting_reset == 0.0
    # a second later the served one is still within the 2 s target only if its first token
    # came within the second left
    assert 0.0 < after.good < after.hosted


def test_hosted_first_tokens_past_the_target_count_against_it() -> None:
    slow = HostedProvider("slow", 0.15, 0.60, 1e9, 2.0, 0.5, 0.0)  # median at the target
    world = World(providers=(slow,))
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    out = serve(Pool(), 100.0, 0, replica, spill=True, world=world, shape=SHAPE)
    assert out.good == pytest.approx(50.0, abs=1.0)


FAST = HostedProvider("b-fast", 0.15, 0.60, 1e9, 0.3, 0.3, 0.0, tokens_per_s=100.0)


def _hosted_100(first: HostedProvider, quantile: float) -> tuple[float, float]:
    """100 requests spilled to ``first`` then ``FAST``: within the target, and their dollars."""
    world = World(providers=(first, FAST), hedge_quantile=quantile)
    assert world.ranked(SHAPE.input_tokens, SHAPE.output_tokens)[0] is first
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    out = serve(Pool(), 100.0, 0, replica, spill=True, world=world, shape=SHAPE)
    return out.good, out.hosted_dollars


def test_the_routers_hedge_brings_a_slow_first_token_within_the_target_from_another_provider() -> (
    None
):
    slow = HostedProvider("a-slow", 0.15, 0.60, 1e9, 0.3, 0.8, 0.0)  # p95 1.1 s, 0.9 % past 2 s
    (unhedged, bill), (hedged, hedged_bill) = _hosted_100(slow, 0.0), _hosted_100(slow, 0.95)
    assert unhedged == pytest.approx(100 * slow.within(2.0))
    assert hedged > unhedged + 0.5 * (100 - unhedged)  # most of the late ones are rescued
    hedges = 100 * 0.05
    assert hedged_bill == pytest.approx(bill + hedges * SHAPE.input_tokens * 0.15 / 1e6)


def test_a_hedge_that_would_come_after_the_target_rescues_nothing_and_still_costs_its_prompt() -> (
    None
):
    slower = HostedProvider("a-slow", 0.15, 0.60, 1e9, 1.0, 0.8, 0.0)  # p95 3.7 s
    (unhedged, bill), (hedged, hedged_bill) = _hosted_100(slower, 0.0), _hosted_100(slower, 0.95)
    assert hedged == pytest.approx(unhedged)
    assert hedged_bill > bill


def test_providers_are_tried_in_the_routers_order_price_first_then_expected_speed() -> None:
    fast = HostedProvider("zeta-fast", 0.15, 0.60, 1e9, 0.3, 0.5, 0.0, tokens_per_s=800.0)
    slow = HostedProvider("alpha-slow", 0.15, 0.60, 1e9, 0.9, 0.5, 0.0, tokens_per_s=200.0)
    cheap = HostedProvider("cheap-slow", 0.10, 0.40, 1e9, 0.9, 0.5, 0.0, tokens_per_s=200.0)
    world = World(providers=(slow, cheap, fast))
    ranked = world.ranked(SHAPE.input_tokens, SHAPE.output_tokens)
    assert [p.name for p in ranked] == ["cheap-slow", "zeta-fast", "alpha-slow"]
    # the shipped providers cost the same: the one whose replies come soonest leads
    default = World().ranked(SHAPE.input_tokens, SHAPE.output_tokens)
    assert default[0].name == "groq"


def test_the_optimum_hosts_a_trickle_and_runs_replicas_for_a_flood() -> None:
    world = World(gpu_hourly=1.0)
    trickle = optimal_schedule(_steady(0.05, 60), world, _draws(0.05, 60, world), 8)[0]
    assert set(trickle) == {0}
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    rate = 3 * replica.tokens_per_s / SHAPE.output_tokens  # three replicas' worth
    flood = optimal_schedule(_steady(rate, 60), world, _draws(rate, 60, world), 8)[0]
    assert set(flood) == {3}


def test_no_policy_in_the_bench_beats_the_replayed_optimum_on_a_step_of_demand() -> None:
    world = World(gpu_hourly=1.0)
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    rate = 2.5 * replica.tokens_per_s / SHAPE.output_tokens
    trace = _steady(rate, 90)
    draws = _draws(rate, 90, world)
    schedule, _ = optimal_schedule(trace, world, draws, 8)
    optimum = replay(trace, world, Clairvoyant(schedule, draws), draws)
    for n in range(0, 5):
        always = replay(trace, world, Always(n, spill=True), draws)
        assert optimum.total_dollars <= always.total_dollars * 1.001, n


def test_the_optimum_without_foresight_serves_a_rise_a_cold_start_late() -> None:
    world = World(gpu_hourly=1.0)
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    flood = 2 * replica.tokens_per_s / SHAPE.output_tokens
    rates = (0.05,) * 30 + (flood,) * 60  # half an hour of trickle, then an hour of flood
    trace = Trace("step", 1, SHAPE.input_tokens, SHAPE.output_tokens, rates)
    per_tick = [r * world.tick_s for r in rates for _ in range(int(60 / world.tick_s))]
    draws = Draws(tuple(per_tick), (180.0,) * 64)
    schedule, _ = optimal_schedule(trace, world, draws, 8)
    optimum = replay(trace, world, Clairvoyant(schedule, draws), draws)
    late = replay(trace, world, Unforeseen(schedule, draws), draws)
    rise = 30 * 60 // int(world.tick_s)
    assert optimum.ready[rise] == 2  # launched a cold start ahead
    assert late.ready[rise] == 0 and late.replicas[rise + 1] == 2  # launched as it begins
    assert late.ready[rise + 180 // int(world.tick_s)] == 2  # serving a cold start later
    assert late.hosted_dollars > optimum.hosted_dollars


def test_the_bench_runs_on_the_first_hour_of_every_trace(tmp_path: Path) -> None:
    economics.main(["--minutes", "60", "--prices", "2", "--out", str(tmp_path)])
    document = json.loads((tmp_path / "economics.json").read_text())
    assert {run["trace"] for run in document["runs"]} == set(KINDS)
    for run in document["runs"]:
        rows = {row["policy"]: row for row in run["policies"]}
        assert rows["hindsight optimum"]["gap_to_optimum"] == 0.0
        assert {"always hosted", "queue depth + spill", "cost"} <= rows.keys()
        assert "cost, burstStandby 4h" in rows  # the default --burst-standby, a row of its own
        assert len({row["requests"] for row in run["policies"]}) == 1  # the same arrivals
    assert (tmp_path / "economics.png").stat().st_size > 10_000


def test_the_bench_prices_a_trace_at_every_gpu_price_asked_for() -> None:
    world = World()
    comparisons = economics.run([_steady(1.0, 20)], [1.0, 3.0], world)
    assert [c.world.gpu_hourly for c in comparisons] == [1.0, 3.0]
    assert comparisons[0].optimum.total_dollars <= comparisons[1].optimum.total_dollars


def _two_bursts(world: World) -> tuple[Trace, Draws]:
    """A trickle below the break-even, and two bursts, at minutes 30 and 120, half a replica
    past every provider's limit."""
    tokens = SHAPE.input_tokens + SHAPE.output_tokens
    providers = sum(p.tokens_per_minute for p in world.providers) / 60.0 / tokens  # requests/s
    replica = replica_for(world, SHAPE.input_tokens, SHAPE.output_tokens)
    burst = providers + 0.5 * replica.tokens_per_s / SHAPE.output_tokens
    rates = [0.1] * 180
    for start in (30, 120):
        rates[start : start + 10] = [burst] * 10
    trace = Trace("two-bursts", 1, SHAPE.input_tokens, SHAPE.output_tokens, tuple(rates))
    ticks = int(len(rates) * 60 / world.tick_s)
    draws = Draws(
        tuple(trace.rate_at(t * world.tick_s) * world.tick_s for t in range(ticks)), (180.0,) * 64
    )
    return trace, draws


def test_a_burst_standby_spares_the_bursts_after_the_first_past_the_providers() -> None:
    world = World(gpu_hourly=2.0)
    trace, draws = _two_bursts(world)
    plain = replay(trace, world, Cost(cost_policy(world, 8), tick_s=world.tick_s), draws)
    held = replay(trace, world, Cost(cost_policy(world, 8, "4h"), tick_s=world.tick_s), draws)
    assert plain.failed > 0
    # without the standby both bursts fail for a cold start; with it, only the first does
    assert held.failed < 0.6 * plain.failed
    assert held.within_target > plain.within_target
    assert held.gpu_hours > plain.gpu_hours  # the standby is paid for


def test_an_operator_restarted_between_bursts_keeps_the_standby_only_if_it_reads_it_back() -> None:
    world = World(gpu_hourly=2.0)
    trace, draws = _two_bursts(world)
    policy = cost_policy(world, 8, "4h")

    def restarted(remembers: bool) -> Restarted:  # once, at minute 90, between the bursts
        return Restarted(policy, tick_s=world.tick_s, every_s=5400.0, remembers=remembers)

    never = replay(trace, world, Cost(policy, tick_s=world.tick_s), draws)
    forgets = replay(trace, world, restarted(False), draws)
    remembers = replay(trace, world, restarted(True), draws)
    assert forgets.failed > 1.5 * never.failed  # the second burst fails for a cold start again
    assert remembers.failed == pytest.approx(never.failed)
    assert remembers.replicas[540:] == never.replicas[540:]  # held from the restart on
    assert remembers.policy == "cost, burstStandby 4h, restarted 1.5h, remembers"
