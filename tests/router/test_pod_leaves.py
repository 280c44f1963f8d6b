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
