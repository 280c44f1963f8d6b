"""What the router learned of a pod goes with the pod: a fleet whose pods come and go (every
autoscaled replica a new address) holds only what it knows of the pods it has."""

from __future__ import annotations

import random
import time

from tests.router.router_fakes import MODEL, settings

from gptoss_router.routing.backends import Backends
from gptoss_router.state.speed import SpeedEstimate

PRIOR = SpeedEstimate(1.0, 100.0)


def test_a_pod_that_leaves_takes_its_speed_and_tail_figures_with_it() -> None:
    backends = Backends(settings(pods=[]), clock=time.monotonic, rng=random.Random(0))  # noqa: S311
    pods = [f"http://10.0.0.{n}:8000" for n in range(1, 4)]
    backends.pools.replace(MODEL, pods, served_model=MODEL)
    for url in pods:
        backends.speed.observe_ttft(url, 0.2)
        for _ in range(50):  # enough first events for a tail to be known
            backends.tails.observe(url, 0.2)
    backends.pools.replace(MODEL, pods[1:], served_model=MODEL)  # the first left
    assert backends.speed.estimate(pods[0], PRIOR) == PRIOR
    assert backends.speed.estimate(pods[1], PRIOR).ttft_s == 0.2
    assert backends.tails.after(pods[0]) is None
    assert backends.tails.after(pods[1]) is not None


def _backends() -> Backends:
    return Backends(settings(pods=[]), clock=time.monotonic, rng=random.Random(0))  # noqa: S311


def test_a_pod_that_leaves_an_adapters_pool_keeps_what_was_learnt_of_it_for_its_base_model() -> (
    None
):
    backends = _backends()
    url = "http://10.0.0.7:8000"
    backends.pools.replace(MODEL, [url], served_model=MODEL)
    backends.pools.replace("support-lora", [url], served_model="support-lora")
    for _ in range(5):
        backends.health.record_failure(url)
    backends.speed.observe_ttft(url, 0.2)
    assert backends.health.is_ejected(url)
    backends.pools.replace("support-lora", [], served_model="support-lora")  # adapter unloaded
    assert backends.health.is_ejected(url)
    assert backends.speed.estimate(url, PRIOR).ttft_s == 0.2
    backends.pools.replace(MODEL, [], served_model=MODEL)  # now it has left
    assert not backends.health.is_ejected(url)


def test_a_pod_joining_clears_what_late_streams_wrote_of_pods_gone_and_of_its_address() -> None:
    backends = _backends()
    pods = [f"http://10.0.1.{n}:8000" for n in range(1, 41)]
    for url in pods:
        backends.pools.replace(MODEL, [url], served_model=MODEL)  # each replaced the last
        backends.pools.replace(MODEL, [], served_model=MODEL)
        # a stream still running on it ends after it left: its health and speed written back
        for _ in range(5):
            backends.health.record_failure(url)
        backends.speed.observe_generation(url, 100, 1.0)
    books = (backends.health, backends.speed)
    assert all(pods[-1] in book.backends() for book in books)
    backends.pools.replace(MODEL, [pods[0]], served_model=MODEL)  # an address reused
    assert not backends.health.is_ejected(pods[0])
    assert backends.speed.estimate(pods[0], PRIOR) == PRIOR
    assert all(book.backends() <= {pods[0]} for book in books)
