"""Outlier ejection, rate-limit bookkeeping, the retry budget and speed estimates."""

from __future__ import annotations

import pytest

from gptoss_router.errors.base import retry_after_header
from gptoss_router.routing.retry_budget import RetryBudget
from gptoss_router.state.outliers import OutlierDetector
from gptoss_router.state.pools import LocalPools
from gptoss_router.state.provider_limits import (
    MAX_SPENT_S,
    RateLimitBook,
    parse_duration,
    retry_after_seconds,
    spent_for,
)
from gptoss_router.state.speed import SpeedBook, SpeedEstimate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def detector(clock: Clock) -> OutlierDetector:
    return OutlierDetector(consecutive=3, base_ejection_s=30, max_ejection_s=100, clock=clock)


def eject(health: OutlierDetector, key: str) -> None:
    """As many failures in a row as eject ``key``."""
    for _ in range(3):
        health.record_failure(key)


def test_consecutive_failures_eject_a_backend_for_the_base_time() -> None:
    clock = Clock()
    health = detector(clock)
    assert [health.record_failure("a") for _ in range(3)] == [False, False, True]
    assert health.is_ejected("a")
    clock.now += 30.5
    assert not health.is_ejected("a")


def test_a_pod_that_leaves_the_pools_takes_its_ejection_record_with_it() -> None:
    clock = Clock()
    health = detector(clock)
    pools = LocalPools(clock, on_leave=health.forget)
    pools.replace("m", ["http://a", "http://b"], served_model="m")
    for _ in range(3):
        health.record_failure("http://a")
    assert health.is_ejected("http://a")
    assert pools.replace("m", ["http://b"], served_model="m") == ["http://a"]
    assert not health.is_ejected("http://a")
    assert health.ejected() == []


def test_a_success_ends_the_failure_streak() -> None:
    health = detector(Clock())
    health.record_failure("a")
    health.record_failure("a")
    health.record_success("a")
    assert not health.record_failure("a")


def test_each_ejection_lasts_longer_up_to_the_cap() -> None:
    clock = Clock()
    health = detector(clock)
    spans = []
    for _ in range(5):
        eject(health, "a")
        start = clock.now
        while health.is_ejected("a"):
            clock.now += 1
        spans.append(clock.now - start)
    assert spans == [30, 60, 90, 100, 100]


def test_a_passing_active_check_readmits_at_once() -> None:
    health = detector(Clock())
    eject(health, "a")
    health.readmit("a")
    assert not health.is_ejected("a") and health.ejected() == []


def test_a_backend_failing_again_right_after_a_check_readmitted_it_serves_its_ejection_out() -> (
    None
):
    clock = Clock()
    health = detector(clock)
    eject(health, "a")
    assert health.readmit("a")  # /health answers: back at once
    clock.now += 1
    eject(health, "a")  # its requests fail in band all the same
    assert not health.readmit("a") and health.is_ejected("a")  # the check is not believed
    clock.now += 60.5  # its second ejection, 60 s, served out
    assert not health.is_ejected("a")
    health.record_success("a")
    eject(health, "a")
    assert health.readmit("a")  # a request served: checks are believed again


def test_a_backend_failing_long_after_a_check_readmitted_it_is_readmitted_again() -> None:
    clock = Clock()
    health = detector(clock)
    eject(health, "a")
    health.readmit("a")
    clock.now += 31  # more than the base ejection time later
    eject(health, "a")
    assert health.readmit("a") and not health.is_ejected("a")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7.66s", 7.66), ("2m59.56s", 179.56), ("500ms", 0.5), ("3", 3.0), ("1h", 3600.0)],
)
def test_groq_style_durations_are_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_retry_after_as_an_http_date_is_measured_from_now() -> None:
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}
    assert retry_after_seconds(headers, now=1445412480.0) == pytest.approx(10.0)


def test_a_spent_request_quota_marks_the_provider_until_its_reset() -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2m"}
    assert spent_for(200, headers, now=0) == 120.0
    assert spent_for(200, {"x-ratelimit-remaining-requests": "12"}, now=0) is None


def test_a_429_with_retry_after_is_spent_for_that_long() -> None:
    clock = Clock()
    book = RateLimitBook(clock)
    book.note("groq", spent_for(429, {"retry-after": "2"}, now=0) or 0)
    assert book.is_spent("groq")
    clock.now += 2.1
    assert not book.is_spent("groq")


@pytest.mark.parametrize("said", ["inf", "Infinity", "nan", "-inf"])
def test_a_provider_that_says_it_is_spent_forever_is_not_believed(said: str) -> None:
    assert parse_duration(said) is None
    assert retry_after_seconds({"retry-after": said}, now=0) is None


def test_a_provider_is_benched_at_most_an_hour_whatever_it_says() -> None:
    clock = Clock()
    book = RateLimitBook(clock)
    book.note("groq", 10 * 86400.0)
    clock.now += MAX_SPENT_S + 1
    assert not book.is_spent("groq")


def test_a_retry_after_header_is_whole_seconds_between_one_and_a_day() -> None:
    assert [retry_after_header(s) for s in (0.2, 1.5, 1e9, float("inf"))] == [
        "1",
        "2",
        "86400",
        "86400",
    ]


def test_the_retry_budget_grants_a_share_of_recent_requests_above_a_floor() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, minimum=0.1, window_s=10.0, clock=clock)
    for _ in range(20):
        budget.start()
    granted = sum(budget.try_retry() for _ in range(10))
    assert granted == 5  # 20 % of 20 requests, plus 0.1/s over the 10 s window


def test_the_retry_budget_forgets_requests_and_retries_two_windows_old() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.5, minimum=0.0, window_s=10.0, clock=clock)
    for _ in range(4):
        budget.start()
    assert [budget.try_retry() for _ in range(3)] == [True, True, False]
    clock.now += 10.5
    assert not budget.try_retry()  # the last window's requests and retries still count
    budget.start()
    budget.start()
    assert budget.try_retry() and not budget.try_retry()
    clock.now += 20
    assert not budget.try_retry()


def test_the_retry_budget_earns_from_the_last_windows_requests_after_a_quiet_spell() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, minimum=0.0, window_s=10.0, clock=clock)
    for second in range(100):  # 10 requests a second for 100 s, none retried
        clock.now = 1000.0 + second
        for _ in range(10):
            budget.start()
    clock.now = 1100.0  # a backend fails: the last 10 s earned 20 retries
    granted = sum(budget.try_retry() for _ in range(50))
    assert granted == 20


def test_speed_starts_at_the_prior_and_moves_toward_measurements() -> None:
    book = SpeedBook(alpha=0.5)
    prior = SpeedEstimate(1.0, 100.0)
    assert book.estimate("g", prior) == prior
    book.observe_ttft("g", 0.2)
    book.observe_ttft("g", 0.4)
    book.observe_generation("g", 1000, 2.0)
    estimate = book.estimate("g", prior)
    assert estimate.ttft_s == pytest.approx(0.3) and estimate.tokens_per_s == pytest.approx(500.0)


def test_a_backend_that_served_after_a_check_readmitted_it_is_readmitted_by_the_next() -> None:
    clock = Clock()
    health = detector(clock)
    eject(health, "a")
    health.readmit("a")
    health.record_success("a")  # the check was right: it serves
    clock.now += 1
    eject(health, "a")  # a new fault, soon after
    assert health.readmit("a") and not health.is_ejected("a")
