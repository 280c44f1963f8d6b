"""Replay a trace against one policy, tick by tick, and account dollars, GPU-hours and latency."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .policies import Observation, Policy
from .serving import Pool, World, replica_for, serve
from .traces import Trace

__all__ = ["Result", "poisson", "replay"]


@dataclass
class Result:
    policy: str
    trace: str
    gpu_dollars: float = 0.0
    hosted_dollars: float = 0.0
    gpu_hours: float = 0.0
    requests: float = 0.0
    good: float = 0.0
    hosted_requests: float = 0.0
    replicas: list[int] = field(default_factory=list)  # asked for, one per tick
    dollars: list[float] = field(default_factory=list)  # cumulative, one per tick

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


def replay(trace: Trace, world: World, policy: Policy, seed: int = 1) -> Result:
    rng = random.Random(seed)  # noqa: S311 - the same arrivals for every policy, not secrets
    replica = replica_for(world, trace.input_tokens, trace.output_tokens)
    per_request = trace.input_tokens * world.input_price + trace.output_tokens * world.output_price
    per_request /= 1e6
    hosted_seconds = world.hosted_ttft_s + trace.output_tokens / world.hosted_tokens_per_s
    pool = Pool(ready_at=[-math.inf] * policy.start())
    result = Result(policy.name, trace.name)
    generated = prompted = finished = 0.0
    spilled_total = 0.0
    ticks = int(len(trace.requests_per_s) * trace.step_s / world.tick_s)
    for tick in range(ticks):
        now = tick * world.tick_s
        arrivals = poisson(rng, trace.rate_at(now) * world.tick_s)
        ready = pool.ready(now)
        out = serve(
            pool,
            arrivals,
            ready,
            replica,
            spill=policy.spill,
            world=world,
            output_tokens=trace.output_tokens,
        )
        asked = len(pool.ready_at)
        result.gpu_dollars += asked * world.gpu_hourly * world.tick_s / 3600.0
        result.gpu_hours += asked * world.tick_s / 3600.0
        result.hosted_dollars += out.hosted * per_request
        result.requests += arrivals
        result.good += out.good
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
            spilled_inflight=round(out.hosted / world.tick_s * hosted_seconds),
            generation_tokens=generated,
            prompt_tokens=prompted,
            finished=finished,
            spilled_total=round(spilled_total),
            hosted_input_tokens=spilled_total * trace.input_tokens,
            hosted_output_tokens=spilled_total * trace.output_tokens,
        )
        pool.resize(policy.decide(seen), now, world.cold_start_s)
        result.replicas.append(asked)
        result.dollars.append(result.total_dollars)
    return result
