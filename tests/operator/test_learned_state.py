"""What the cost policy learns is kept in status and read back by the next operator
(``autoscaling/learned.py``): the same figures, times carried across clocks, and nothing read
back that the policy could not have learned itself."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, replace
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.autoscaling.capacity import WEIGHT, CapacityEstimate
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import CostPolicy, Prices
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.learned import Subject, learned_status, restored_state
from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.autoscaling.prices import HostedQuote
from gptoss_operator.autoscaling.returns import Returns
from gptoss_operator.autoscaling.standby import Burst, BurstMemory
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings

SUBJECT = Subject("gpt-oss-120b on 2 x H100-80GB", "fireworks,groq")
WINDOW_S = 4 * 3600.0
POLICY = CostPolicy(
    min_replicas=0,
    max_replicas=8,
    cold_start_s=180.0,
    prices=Prices(replica_hourly=4.0, input_per_million=0.15, output_per_million=0.60),
    may_spill=True,
    capacity_prior=6000.0,
    burst_standby_s=WINDOW_S,
)
WALL = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC).timestamp()


def _learned(now: float) -> CostState:
    """A state that has measured a replica, learned the providers' limit, seen two bursts and
    given replicas back twice (demand came back after 7 and 60 minutes)."""
    returns = Returns(released_at=now - 300.0)
    returns.gaps.extend([420.0, 3600.0])
    return CostState(
        capacity=CapacityEstimate(1513.4, 7),
        bursts=BurstMemory(
            2153.0,
            [Burst(now - 7200.0, now - 6600.0, 900.0), Burst(now - 3000.0, now - 2400.0, 1110.0)],
        ),
        governor=CostGovernor(returns=returns),
    )


def test_what_was_learned_reads_back_the_same_on_another_process_clock() -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    # the next operator's monotonic clock starts elsewhere; a minute has passed on the wall
    state, problems = restored_state(doc, SUBJECT, now=40.0, wall=WALL + 60.0)
    assert problems == ()
    assert (state.capacity.value, state.capacity.samples) == (1513.4, 7)
    assert state.bursts.providers == 2153.0
    # each time is as far in the past as it was, plus the minute between the two processes
    assert [(b.start, b.last, b.excess) for b in state.bursts.bursts] == [
        (40.0 - 7260.0, 40.0 - 6660.0, 900.0),
        (40.0 - 3060.0, 40.0 - 2460.0, 1110.0),
    ]
    assert list(state.governor.returns.gaps) == [420.0, 3600.0]
    assert state.governor.returns.released_at == 40.0 - 360.0


def test_the_document_says_when_it_was_written_and_names_what_is_not_learned_yet() -> None:
    doc = learned_status(CostState(), SUBJECT, now=0.0, wall=WALL)
    assert doc["writtenAt"] == "2026-12-01T09:00:00Z"
    assert doc["replicaOf"] == SUBJECT.replica and doc["providersOf"] == SUBJECT.providers
    # None: a merge patch of it removes what an earlier write had said
    assert doc["replicaTokensPerSecond"] is None and doc["providersTokensPerSecond"] is None
    assert doc["releasedAt"] is None and doc["replicaSamples"] is None
    assert doc["bursts"] == [] and doc["demandReturnedAfterSeconds"] == []


def test_no_document_restores_a_state_that_has_learned_nothing() -> None:
    state, problems = restored_state(None, SUBJECT, now=0.0, wall=WALL)
    assert problems == ()
    assert state.capacity.value is None and state.bursts.providers is None


def test_a_capacity_read_back_is_nudged_by_the_next_saturated_tick_not_replaced() -> None:
    doc = learned_status(CostState(capacity=CapacityEstimate(1500.0, 2)), SUBJECT, now=0, wall=WALL)
    state, _ = restored_state(doc, SUBJECT, now=0.0, wall=WALL)
    measured = state.capacity.observe(6000.0, 2500.0, ready=1, saturated=True, blind=False)
    assert measured == pytest.approx(1500.0 + WEIGHT * (2500.0 - 1500.0))


def test_a_capacity_measured_on_other_gpus_is_dropped_and_the_rest_kept() -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    other = Subject("gpt-oss-120b on 1 x H100-80GB", SUBJECT.providers)
    state, problems = restored_state(doc, other, now=5000.0, wall=WALL)
    assert state.capacity.value is None  # the prior again
    assert state.bursts.providers == 2153.0 and len(state.bursts.bursts) == 2
    assert problems == (
        "the capacity was learned of 'gpt-oss-120b on 2 x H100-80GB', "
        "the replicas are now 'gpt-oss-120b on 1 x H100-80GB'",
    )


def test_a_limit_learned_of_other_providers_is_dropped_with_its_bursts() -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    state, problems = restored_state(doc, Subject(SUBJECT.replica, "groq"), now=0.0, wall=WALL)
    assert state.bursts.providers is None and state.bursts.bursts == []
    assert state.capacity.value == 1513.4
    assert list(state.governor.returns.gaps) == [420.0, 3600.0]
    assert problems == (
        "the providers' limit was learned of 'fireworks,groq', the CR now spills to 'groq'",
    )


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("replicaTokensPerSecond", -5.0, "replicaTokensPerSecond -5.0 is not a positive number"),
        ("replicaTokensPerSecond", math.nan, "replicaTokensPerSecond nan is not a positive"),
        ("replicaTokensPerSecond", "fast", "replicaTokensPerSecond 'fast' is not a positive"),
        ("providersTokensPerSecond", 0, "providersTokensPerSecond 0 is not a positive number"),
        ("releasedAt", "yesterday", "releasedAt 'yesterday' is not like 2026-12-01T09:30:00Z"),
        ("demandReturnedAfterSeconds", [0.0, True], "demandReturnedAfterSeconds holds True"),
        ("demandReturnedAfterSeconds", [-1], "demandReturnedAfterSeconds holds -1: not a number"),
        ("bursts", [{"start": "2026-12-01T08:00:00Z"}], "a burst needs a start, a last time"),
    ],
)
def test_a_figure_that_could_not_have_been_learned_is_dropped_and_said(
    field: str, value: Any, problem: str
) -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    state, problems = restored_state({**doc, field: value}, SUBJECT, now=5000.0, wall=WALL)
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    kept = CostState(
        capacity=state.capacity if field != "replicaTokensPerSecond" else _learned(5000).capacity,
        bursts=state.bursts,
        governor=state.governor,
    )
    # everything else was read back as written
    others = {k: v for k, v in doc.items() if k != field}
    again = learned_status(kept, SUBJECT, now=5000.0, wall=WALL)
    assert {k: v for k, v in again.items() if k in others} == others


def test_a_document_that_is_not_an_object_is_refused_whole() -> None:
    state, problems = restored_state(["x"] * 100, SUBJECT, now=0.0, wall=WALL)
    assert state.capacity.value is None
    [problem] = problems
    assert problem.startswith("status.autoscaling.learned is not an object: ['x', ")
    assert len(problem) < 140  # a long value is shown cut short


def test_a_time_in_the_future_counts_as_now() -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    state, _ = restored_state(doc, SUBJECT, now=100.0, wall=WALL - 3600.0)  # a clock behind
    assert all(b.start <= 100.0 and b.last <= 100.0 for b in state.bursts.bursts)


@dataclass(frozen=True)
class _Calm:
    """A tick of the demand meter after the bursts: a little demand, all hosted."""

    tokens_per_s: float = 100.0
    input_per_output: float = 7.5
    unserved_tokens_per_s: float = 0.0
    unserved_minute_tokens_per_s: float = 0.0
    tick_tokens_per_s: float = 100.0
    hosted_tokens_per_s: float = 100.0
    hosted_tick_tokens_per_s: float = 100.0
    local_tick_tokens_per_s: float = 0.0
    output_per_request: float = 400.0
    window_s: float = 60.0
    pods_counted: int = 0
    fresh: bool = True
    settled: bool = True


def test_after_a_restart_the_standby_is_kept_for_the_bursts_the_last_operator_saw() -> None:
    doc = learned_status(_learned(now=5000.0), SUBJECT, now=5000.0, wall=WALL)
    restarted, _ = restored_state(doc, SUBJECT, now=0.0, wall=WALL + 30.0)
    forgetful = CostState()
    ticks = {
        name: state.decide(
            0.0, _Calm(), POLICY, current=1, ready=1, saturated=False, blind=False, tick_s=10.0
        )
        for name, state in (("restarted", restarted), ("forgetful", forgetful))
    }
    held = ticks["restarted"].decision
    assert (held.replicas, held.reason) == (1, "BurstStandby")
    # the bursts the last operator saw, as far back as they were (plus the half minute between)
    assert "2 times in the last 4 h, by up to 1,110 tok/s, the last 40 min ago" in held.message
    assert ticks["restarted"].capacity == 1513.4  # the measured capacity, not the prior
    assert ticks["forgetful"].capacity == POLICY.capacity_prior
    assert ticks["forgetful"].decision.reason != "BurstStandby"


def test_the_subject_names_the_replica_and_the_admissible_providers_sorted() -> None:
    quotes = (HostedQuote("together", 0.15, 0.6), HostedQuote("groq", 0.15, 0.6))
    policy = replace(POLICY, gpus=2, product="H100-80GB", quotes=quotes)
    assert Subject.of("gpt-oss-120b", policy) == Subject(
        "gpt-oss-120b on 2 x H100-80GB", "groq,together"
    )


def test_a_running_operator_drops_the_capacity_of_replicas_the_spec_no_longer_asks_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    autoscaler = Autoscaler(
        kube=cast(Kube, None), settings=OperatorSettings(), http=cast(httpx.AsyncClient, None)
    )
    cr = {"metadata": {"uid": "u-1", "namespace": "ns", "name": "chat"}, "status": {}}
    log = logging.getLogger("test")
    first = autoscaler._by_cost.state_for(cr, SUBJECT, 0.0, WALL, log)
    first.capacity = CapacityEstimate(1513.4, 7)
    first.bursts = BurstMemory(2153.0, [Burst(-60.0, -30.0, 500.0)])
    assert autoscaler._by_cost.state_for(cr, SUBJECT, 10.0, WALL + 10, log) is first  # same spec
    one_gpu = Subject("gpt-oss-120b on 1 x H100-80GB", SUBJECT.providers)
    with caplog.at_level(logging.INFO, logger="test"):
        moved = autoscaler._by_cost.state_for(cr, one_gpu, 20.0, WALL + 20, log)
    assert "ns/chat: the capacity was learned of 'gpt-oss-120b on 2 x H100-80GB'" in caplog.text
    assert moved.capacity.value is None  # measured on two GPUs: the prior again
    assert moved.bursts.providers == 2153.0  # the providers are the same
    assert [b.excess for b in moved.bursts.bursts] == [500.0]
