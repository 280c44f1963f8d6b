"""Missing metrics never scale down (pure): the decision holds, the ``MetricsAvailable``
condition and an Event say which pods are silent, once per change."""

from __future__ import annotations

from gptoss_operator.autoscaling.blindness import (
    metrics_verdict,
    notice_for,
    with_condition,
)
from gptoss_operator.autoscaling.decide import (
    Policy,
    Signals,
    Stabilizer,
    never_down_blind,
    recommend,
)

POLICY = Policy(
    min_replicas=1, max_replicas=4, target_queue_depth=2, scale_down_delay_s=60, max_num_seqs=64
)
NOW = "2026-11-25T12:00:00Z"


def _window(current: int) -> Stabilizer:
    """A window as the autoscaler starts one: with the replicas found running."""
    return Stabilizer([(0.0, current)])


def _decide(window: Stabilizer, now: float, signals: Signals, current: int) -> int:
    wish = recommend(signals, POLICY)
    return window.decide(now, wish.replicas, current=current, policy=POLICY, blind=signals.blind)


def test_an_idle_reading_with_a_silent_replica_keeps_the_replicas() -> None:
    window = _window(3)
    idle_but_blind = Signals(ready=3, waiting=0, running=0, spilled=0, unread=("pod chat-b",))
    assert _decide(window, 0.0, idle_but_blind, current=3) == 3
    assert _decide(window, 600.0, idle_but_blind, current=3) == 3


def test_the_same_idle_reading_with_every_replica_read_scales_down_after_the_window() -> None:
    window = _window(3)
    idle = Signals(ready=3, waiting=0, running=0, spilled=0)
    assert _decide(window, 0.0, idle, current=3) == 3
    assert _decide(window, 61.0, idle, current=3) == 1


def test_a_silent_replica_does_not_stop_a_scale_up() -> None:
    window = _window(2)
    busy = Signals(ready=2, waiting=9, running=8, spilled=0, unread=("pod chat-b",))
    assert _decide(window, 0.0, busy, current=2) == 4


def test_after_the_metrics_return_scale_down_waits_for_a_whole_window_of_readings() -> None:
    window = _window(3)
    blind = Signals(ready=3, waiting=0, running=0, spilled=0, unread=("router gptoss-router-x",))
    idle = Signals(ready=3, waiting=0, running=0, spilled=0)
    for second in range(0, 300, 10):
        assert _decide(window, float(second), blind, current=3) == 3
    assert _decide(window, 300.0, idle, current=3) == 3
    assert _decide(window, 350.0, idle, current=3) == 3
    assert _decide(window, 361.0, idle, current=3) == 1


def test_max_replicas_applies_even_while_blind() -> None:
    assert never_down_blind(2, current=6, blind=True, ceiling=4) == 4
    assert never_down_blind(2, current=3, blind=True, ceiling=4) == 3
    assert never_down_blind(2, current=3, blind=False, ceiling=4) == 2


def test_the_condition_names_the_silent_pods_and_the_replicas_kept() -> None:
    verdict = metrics_verdict(("router gptoss-router-x", "pod chat-vllm-b"), replicas=3)
    assert (verdict.status, verdict.reason) == ("False", "MetricsUnavailable")
    assert "pod chat-vllm-b, router gptoss-router-x" in verdict.message
    assert "keeps 3 replicas" in verdict.message


def test_a_deployment_whose_metrics_always_answered_gets_no_condition() -> None:
    assert with_condition([], metrics_verdict((), 2), generation=1, now=NOW) is None


def test_the_condition_is_written_when_it_changes_and_only_then() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Serving", "message": "x"}
    blind = metrics_verdict(("pod chat-vllm-b",), 3)
    written = with_condition([ready], blind, generation=2, now=NOW)
    assert written is not None
    assert written[0] == ready
    assert written[1]["reason"] == "MetricsUnavailable"
    assert written[1]["lastTransitionTime"] == NOW
    assert with_condition(written, blind, generation=2, now="2026-11-25T12:00:05Z") is None
    other = metrics_verdict(("pod chat-vllm-b", "pod chat-vllm-c"), 3)
    again = with_condition(written, other, generation=2, now="2026-11-25T12:00:09Z")
    assert again is not None
    assert again[1]["lastTransitionTime"] == NOW, "the status stayed False"
    back = with_condition(again, metrics_verdict((), 3), generation=2, now="2026-11-25T12:01:00Z")
    assert back is not None
    assert (back[1]["status"], back[1]["reason"]) == ("True", "MetricsRead")
    assert back[1]["lastTransitionTime"] == "2026-11-25T12:01:00Z"


def test_an_event_is_posted_when_the_silent_pods_change_not_every_tick() -> None:
    silent = ("pod chat-vllm-b",)
    verdict = metrics_verdict(silent, 3)
    first = notice_for((), silent, verdict)
    assert first is not None
    assert (first.event_type, first.reason) == ("Warning", "MetricsUnavailable")
    assert "pod chat-vllm-b" in first.message
    assert notice_for(silent, silent, verdict) is None
    back = notice_for(silent, (), metrics_verdict((), 3))
    assert back is not None
    assert (back.event_type, back.reason) == ("Normal", "MetricsAvailable")
    assert notice_for((), (), metrics_verdict((), 3)) is None
