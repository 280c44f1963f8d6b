"""The pod-choosing policies compared: the router's prefix affinity, P2C, round robin and random,
each seeing only the pods' in-flight counts."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gptoss_router.routing.affinity import Ring, choose, prefix_key, within_bound
from gptoss_sim.engine_state import EngineState

__all__ = ["Pod", "Policy", "policies"]


@dataclass
class Pod:
    name: str
    state: EngineState = field(default_factory=EngineState)
    inflight: int = 0
    served: int = 0


Policy = Callable[[list[Pod], Mapping[str, object]], Pod]


def policies(pods: list[Pod], rng: random.Random) -> dict[str, Policy]:
    ring = Ring(p.name for p in pods)
    turn = iter(range(10**9))

    pins: dict[int, str] = {}  # the router's memory of where each conversation went

    def gptoss(ps: list[Pod], request: Mapping[str, object]) -> Pod:
        key = prefix_key("chat", request)
        if key is None:
            return min(ps, key=_load)
        loads = {p.name: p.inflight for p in ps}
        pinned = pins.get(key)
        if pinned is not None and within_bound(loads, pinned):
            name: str | None = pinned
        else:
            name = choose(ring, key, loads)
        pins[key] = name or ps[0].name
        return next(p for p in ps if p.name == pins[key])

    def p2c(ps: list[Pod], request: Mapping[str, object]) -> Pod:
        a, b = rng.sample(ps, 2) if len(ps) > 1 else (ps[0], ps[0])
        return min((a, b), key=_load)

    def round_robin(ps: list[Pod], request: Mapping[str, object]) -> Pod:
        return ps[next(turn) % len(ps)]

    def uniform(ps: list[Pod], request: Mapping[str, object]) -> Pod:
        return rng.choice(ps)

    return {"gptoss": gptoss, "p2c": p2c, "round_robin": round_robin, "random": uniform}


def _load(pod: Pod) -> int:
    return pod.inflight
