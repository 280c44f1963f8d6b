"""Replay a trace against one policy, tick by tick, and account dollars, GPU-hours and latency.

The arrivals of each tick (Poisson around the trace's rate) and the cold starts are drawn once
per trace and seed, so every policy, and the hindsight optimum, meets the same requests and the
same cold starts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .policies import Observation, Policy
from .serving import Pool, Shape, replica_for, serve
from .traces import Trace
from .world import World

__all__ = ["Draws", "Result", "draws_for", "poisson", "replay"]


@dataclass
class Result:
    policy: str
    trace: str
    gpu_dollars: float = 0.0
    hosted_dollars: float = 0.0
    gpu_hours: float = 0.0
    requests: float = 0.0
    good: float = 0.0
    failed: float = 0.0
    hosted_requests: float = 0.0
    replicas: list[int] = field(default_factory=list)  # asked for, one per tick
    ready: list[int] = field(default_factory=list)  # ready, one per tick
    dollars: list[float] = field(default_factory=list)  # cumulative, one per tick
    demand: list[float] = field(default_factory=list)  # output tokens/s, one per tick

    @property
    def total_dollars(self) -> float:
        return self.gpu_dollars + self.hosted_dollars

    @property
    def within_target(self) -> float:
        return self.good / self.requests if self.requests else 1.0

    @property
    def hosted_share(self) -> float:
        return self.hosted_requests / self.requests if self.requests else 0.0


def poisson(rng: random.Random, mean: float) -> float:
    """A Poisson draw (normal approximation above 50, exact below)."""
    if mean <= 0:
        return 0.0
    if mean > 50:
        return max(0.0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return float(k)


@dataclass(frozen=True)
class Draws:
    arrivals: tuple[float, ...]  # requests per tick
    cold_starts: tuple[float, ...]  # seconds, the k-th for the k-th launch


def draws_for(trace: Trace, world: World, seed: int = 1) -> Draws:
    rng = random.Random(f"{trace.name}/{seed}")  # noqa: S311 - a simulation, not secrets
    ticks = int(len(trace.requests_per_s) * trace.step_s / world.tick_s)
    arrivals = tuple(
        poisson(rng, trace.rate_at(t * world.tick_s) * world.tick_s) for t in range(ticks)
    )
    return Draws(arrivals, world.cold_start.draws(seed))


def replay(trace: Trace, world: World, policy: Policy, draws: Draws) -> Result:
    shape = Shape(trace.input_tokens, trace.output_tokens)
    replica = replica_for(world, trace.input_tokens, trace.output_tokens)
    pool = Pool(replicas=[(0.0, -math.inf)] * policy.start())  # running before the trace
    hosted_s = 1.0 + trace.output_tokens / 300.0  # the router's priors for a provider
    result = Result(policy.name, trace.name)
    generated = prompted = finished = spilled_total = 0.0
    now = 0.0
    for tick, arrivals in enumerate(draws.arrivals):
        now = tick * world.tick_s
        ready = pool.ready(now)
        out = serve(pool, arrivals, ready, replica, spill=policy.spill, world=world, shape=shape)
        asked = len(pool.replicas)
        result.gpu_dollars += asked * world.replica_hourly * world.tick_s / 3600.0
        result.gpu_hours += asked * world.gpus * world.tick_s / 3600.0
        result.hosted_dollars += out.hosted_dollars
        result.requests += arrivals
        result.good += out.good
        result.failed += out.failed
        result.hosted_requests += out.hosted
        generated += out.served * trace.output_tokens
        prompted += out.served * trace.input_tokens
        finished += out.served
        spilled_total += out.hosted
        seen = Observation(
            now=now,
            desired=asked,
            ready=ready,
            waiting=round(out.waiting),
            running=round(out.running),
            spilled_inflight=round(out.hosted / world.tick_s * hosted_s),
            generation_tokens=generated,
            prompt_tokens=prompted,
            finished=finished,
            spilled_total=round(spilled_total),
            hosted_input_tokens=spilled_total * trace.input_tokens,
            hosted_output_tokens=spilled_total * trace.output_tokens,
            unserved_total=result.failed,
            newest_age_s=now - max(t for t, _ in pool.replicas) if pool.replicas else None,
        )
        pool.resize(policy.decide(seen), now, world, draws.cold_starts)
        result.replicas.append(asked)
        result.ready.append(ready)
        result.demand.append(arrivals * trace.output_tokens / world.tick_s)
        result.dollars.append(result.total_dollars + pool.rounding_dollars)
    pool.close(now + world.tick_s, world)
    result.gpu_dollars += pool.rounding_dollars
    if result.dollars:
        result.dollars[-1] = result.total_dollars
    return result
