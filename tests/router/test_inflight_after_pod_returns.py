"""A pod that leaves discovery for a moment (not ready) and comes back is a new ``Pod`` at the
same URL. A request that was sent to it before gives its in-flight count back to the pod it
took it on, never to the returned one, whose count is the requests sent to it since."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, settings

from gptoss_router.metrics import RouterMetrics
from gptoss_router.proxy.accounting import Ledger, Shared, Trial
from gptoss_router.proxy.attempt import Failure
from gptoss_router.routing.admission import Ticket
from gptoss_router.routing.backends import Backends, Target
from gptoss_router.routing.policy import Candidate
from gptoss_router.routing.retry_budget import RetryBudget

URL = "http://pod-a.test:8000"


def _shared() -> Shared:
    backends = Backends(settings(pods=[URL]), clock=time.monotonic, rng=random.Random(0))  # noqa: S311
    backends.pools.replace(MODEL, [URL], served_model=MODEL)
    admission: Any = SimpleNamespace(settle=lambda *args, **kwargs: None)
    budget = RetryBudget(ratio=0.2, minimum=1)
    return Shared(backends, RouterMetrics(CollectorRegistry()), budget, admission)


def _ledger(shared: Shared) -> Ledger:
    return Ledger(
        shared, route="chat", model=MODEL, started=time.perf_counter(), ticket=Ticket("a")
    )


def _target(shared: Shared) -> Target:
    target = shared.backends.target(Candidate("local", URL), MODEL)
    assert target is not None
    return target


def _served(shared: Shared) -> Ledger:
    ledger = _ledger(shared)
    ledger.served(ledger.attempting(_target(shared)), ttft_s=0.1, spill=None, stream=True)
    return ledger


def _flap(shared: Shared) -> None:
    """The pod is not ready for a moment, then back: discovery makes a new ``Pod`` of it."""
    shared.backends.pools.replace(MODEL, [], served_model=MODEL)
    shared.backends.pools.replace(MODEL, [URL], served_model=MODEL)


def _inflight(shared: Shared) -> int:
    pod = shared.backends.pools.get(MODEL, URL)
    assert pod is not None
    return pod.inflight


def test_a_request_that_ends_after_its_pod_came_back_leaves_the_returned_pods_count_alone() -> None:
    shared = _shared()
    before = shared.backends.pools.get(MODEL, URL)
    earlier = _served(shared)
    _flap(shared)
    later = [_served(shared), _served(shared)]
    assert _inflight(shared) == 2
    earlier.close("ok")
    assert _inflight(shared) == 2  # both later requests still run on the returned pod
    assert before is not None and before.inflight == 0
    for ledger in later:
        ledger.close("ok")
    assert _inflight(shared) == 0


def _fail(ledger: Ledger, trial: Trial) -> None:
    ledger.failed(trial, Failure("reset", 502, "pod-a dropped the connection"))
    ledger.close("upstream_error")


def _cancel(ledger: Ledger, trial: Trial) -> None:
    ledger.close("cancelled")  # its task was cancelled while the attempt was under way


@pytest.mark.parametrize("end", [_fail, _cancel], ids=["fails", "is-cancelled"])
def test_an_attempt_that_ends_after_its_pod_came_back_leaves_the_returned_pods_count_alone(
    end: Callable[[Ledger, Trial], None],
) -> None:
    shared = _shared()
    ending = _ledger(shared)
    trial = ending.attempting(_target(shared))
    _flap(shared)
    running = _served(shared)
    end(ending, trial)
    assert _inflight(shared) == 1
    running.close("ok")
    assert _inflight(shared) == 0
