"""Fault rules: how they read and when a schedule applies them (pure)."""

from __future__ import annotations

import pytest

from gptoss_sim.errors import SimError
from gptoss_sim.faults import Fault, FaultSchedule, parse_fault, parse_rule


def test_a_fault_reads_from_comma_separated_terms() -> None:
    fault = parse_fault("latency=0.5, status=429, retry_after=2, disconnect_after=3, trickle=0.1")
    assert fault == Fault(latency=0.5, status=429, retry_after=2, disconnect_after=3, trickle=0.1)


def test_bare_words_switch_on_reset_and_hang() -> None:
    assert parse_fault("reset").reset and parse_fault("hang").hang


def test_an_unknown_term_is_refused_with_400() -> None:
    with pytest.raises(SimError) as caught:
        parse_fault("explode=1")
    assert caught.value.status == 400


def test_every_nth_request_gets_the_fault() -> None:
    schedule = FaultSchedule((parse_rule("status=503,every=3"),))
    hits = []
    for index in range(1, 10):
        fault, schedule = schedule.pick(index, elapsed=0.0)
        hits.append(fault is not None)
    assert hits == [False, False, True] * 3


def test_a_rule_applies_only_inside_its_time_window() -> None:
    schedule = FaultSchedule((parse_rule("reset,after=10,until=20"),))
    assert schedule.pick(1, elapsed=5.0)[0] is None
    assert schedule.pick(1, elapsed=15.0)[0] == Fault(reset=True)
    assert schedule.pick(1, elapsed=20.0)[0] is None


def test_a_rule_with_times_stops_after_firing_that_often() -> None:
    schedule = FaultSchedule((parse_rule("status=500,times=2"),))
    fired = 0
    for index in range(1, 6):
        fault, schedule = schedule.pick(index, elapsed=0.0)
        fired += fault is not None
    assert fired == 2


def test_a_rule_with_a_path_applies_only_to_requests_under_it() -> None:
    schedule = FaultSchedule((parse_rule("hang,path=/metrics"),))
    assert schedule.pick(1, elapsed=0.0, path="/metrics")[0] == Fault(hang=True)
    assert schedule.pick(2, elapsed=0.0, path="/health")[0] is None
    with pytest.raises(SimError):
        parse_rule("hang,path=metrics")
