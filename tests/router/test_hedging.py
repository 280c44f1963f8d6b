"""A slow attempt is hedged: past its backend's learned tail of times to first event, the next
candidate gets the same request and the first to answer is relayed; the tail estimate itself
settles on its quantile even though the hedge cuts the slow attempts short."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from tests.router.live import Fleet, fleet, router_in_thread, router_settings

from gptoss_router.routing.retry_budget import RetryBudget
from gptoss_router.state.ttft_tail import TailBook

MODEL = "gpt-oss-120b"
LEARNED = 6  # requests that teach the tail book the pod's times to first event


# -- the tail estimate (pure) -------------------------------------------------------------------


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _settled(book: TailBook, draws: Callable[[], float], *, censored: bool, n: int) -> float:
    """The estimate after ``n`` first events, each cut short at the estimate when ``censored``
    (as a hedge that wins cuts them)."""
    for _ in range(n):
        seconds, after = draws(), book.after("pod")
        if censored and after is not None and seconds > after:
            book.overdue("pod")  # cancelled for its hedge: only "later than the estimate" known
        else:
            book.observe("pod", seconds)
    after = book.after("pod")
    assert after is not None
    return after


@pytest.mark.parametrize("censored", [False, True], ids=["seen-whole", "cut-short-by-hedges"])
def test_the_tail_estimate_settles_on_the_95th_percentile_of_a_providers_first_tokens(
    censored: bool,
) -> None:
    rng = random.Random(7)  # noqa: S311 - a simulation, not secrets
    median, sigma = 0.55, 0.55
    p95 = median * math.exp(sigma * 1.6449)  # 1.36 s
    estimates = []
    for _ in range(5):
        book = TailBook(quantile=0.95, min_samples=20)
        estimates.append(
            _settled(book, lambda: _lognormal(rng, median, sigma), censored=censored, n=6000)
        )
    mean = sum(estimates) / len(estimates)
    assert abs(mean / p95 - 1) < 0.15, f"settled at {mean:.2f} s, the 95th percentile is {p95:.2f}"


def test_the_tail_estimate_follows_a_backend_that_becomes_slower() -> None:
    rng = random.Random(3)  # noqa: S311 - a simulation, not secrets
    book = TailBook(quantile=0.95, min_samples=20)
    fast = _settled(book, lambda: _lognormal(rng, 0.3, 0.4), censored=True, n=2000)
    slow = _settled(book, lambda: _lognormal(rng, 1.2, 0.4), censored=True, n=500)
    assert slow > 3 * fast


def test_a_backend_is_not_hedged_before_enough_first_events_were_seen_nor_once_forgotten() -> None:
    book = TailBook(quantile=0.95, min_samples=3)
    book.observe("pod", 0.2)
    book.observe("pod", 0.3)
    assert book.after("pod") is None
    book.observe("pod", 0.25)
    after = book.after("pod")
    assert after is not None and 0.2 < after < 1.0
    book.forget("pod")
    assert book.after("pod") is None
    book.overdue("never-seen")  # no estimate to move: nothing to say about it
    assert book.after("never-seen") is None


# -- through the router, against the strict simulators ------------------------------------------


def _client(url: str) -> openai.OpenAI:
    # The router's first-byte timeout is 60 s: only a hedge answers within the client's 20 s.
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=20.0)


def _learn(client: openai.OpenAI) -> None:
    for _ in range(LEARNED):
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
        assert raw.headers["x-gptoss-backend"] == "local"


def _hang_next(found: Fleet) -> None:
    """The pod's next chat request is accepted and never answered."""
    reply = httpx.put(f"{found.local.base_url}/_sim/faults", json=["hang,path=/v1/chat,times=1"])
    assert reply.status_code < 300, reply.text


def _settings(found: Fleet, **tuning: Any) -> Any:
    return router_settings(
        found,
        tuning={"first_byte_timeout_s": 60.0, "hedge_min_samples": LEARNED, **tuning},
    )


def _value(registry: Any, name: str, labels: dict[str, str] | None = None) -> float:
    return registry.get_sample_value(name, labels or {}) or 0.0


def _hedged_and_timed_out(registry: Any) -> tuple[float, float]:
    """The pod's attempts hedged, and those waited out to the first-byte timeout."""
    return (
        _value(registry, "gptoss_router_hedges_total", {"backend": "local"}),
        _value(registry, "gptoss_router_retries_total", {"backend": "local", "reason": "timeout"}),
    )


def _ask(client: openai.OpenAI, *, stream: bool) -> tuple[str, str]:
    """The backend that answered and the text it answered."""
    messages: Any = [{"role": "user", "content": "Hi"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=MODEL, messages=messages, max_tokens=200, stream=True
        ) as response:
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
            )
            return response.headers["x-gptoss-backend"], text
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=200
    )
    return raw.headers["x-gptoss-backend"], raw.parse().choices[0].message.content or ""


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_a_request_to_a_pod_that_hangs_is_answered_by_its_hedge_at_a_provider(
    stream: bool,
) -> None:
    with fleet() as found, router_in_thread(_settings(found)) as (url, registry):
        client = _client(url)
        _learn(client)
        _hang_next(found)
        backend, text = _ask(client, stream=stream)
        hedged = _value(registry, "gptoss_router_hedges_total", {"backend": "local"})
        won = _value(registry, "gptoss_router_hedge_wins_total", {"backend": backend})
        slow = _value(
            registry,
            "gptoss_router_spilled_requests_total",
            {"model": MODEL, "reason": "slow", "deployment": ""},
        )
        timeouts = _value(
            registry, "gptoss_router_retries_total", {"backend": "local", "reason": "timeout"}
        )
        ok = _value(
            registry,
            "gptoss_router_requests_total",
            {"route": "chat", "model": MODEL, "backend": backend, "outcome": "ok"},
        )
    assert backend != "local" and text
    assert (hedged, won, slow) == (1, 1, 1)
    assert timeouts == 0  # the hung attempt was cancelled, not waited out
    assert ok == 1


def test_without_hedging_the_request_waits_for_the_first_byte_timeout() -> None:
    tuning = {"hedge_quantile": 0.0, "first_byte_timeout_s": 1.0}
    with fleet() as found, router_in_thread(_settings(found, **tuning)) as (url, registry):
        client = _client(url)
        _learn(client)
        _hang_next(found)
        backend, _ = _ask(client, stream=True)
        hedged, timeouts = _hedged_and_timed_out(registry)
    assert backend != "local"
    assert (hedged, timeouts) == (0, 1)


def test_a_hedge_the_retry_budget_refuses_is_not_sent() -> None:
    tuning = {"retry_budget_ratio": 0.0, "retry_budget_min": 0.0, "first_byte_timeout_s": 1.5}
    with fleet() as found, router_in_thread(_settings(found, **tuning)) as (url, registry):
        client = _client(url)
        _learn(client)
        _hang_next(found)
        with pytest.raises(openai.APIStatusError) as raised:
            _ask(client, stream=True)
        hedged = _value(registry, "gptoss_router_hedges_total", {"backend": "local"})
        denied = _value(registry, "gptoss_router_retry_budget_exhausted_total")
    assert raised.value.status_code == 504
    assert hedged == 0
    assert denied == 2  # the hedge, then the retry after the timeout


def test_a_hedge_the_budget_refuses_leaves_its_candidate_for_the_failover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The budget, spent when the pod turned slow, has room again when its attempt times out:
    the provider the hedge would have used still takes the failover."""
    asked: list[bool] = []
    real = RetryBudget.try_retry

    def first_refused(budget: RetryBudget) -> bool:
        asked.append(True)
        return len(asked) > 1 and real(budget)

    monkeypatch.setattr(RetryBudget, "try_retry", first_refused)
    tuning = {"first_byte_timeout_s": 1.5}
    with fleet() as found:
        config = _settings(found, **tuning)
        one_provider = config.model_copy(update={"providers": config.providers[:1]})
        with router_in_thread(one_provider) as (url, registry):
            client = _client(url)
            _learn(client)
            _hang_next(found)
            backend, text = _ask(client, stream=True)
            hedged, timeouts = _hedged_and_timed_out(registry)
    assert backend == config.providers[0].name and text
    assert (len(asked), hedged, timeouts) == (2, 0, 1)
