"""The hindsight optimum: the cheapest replica schedule for the whole trace, knowing every
arrival and every cold start in advance, as the bound a policy is measured against.

Dynamic programming over minutes and ready replicas ``n`` (0 to ``max_replicas``). A minute
with ``n`` ready costs their GPU time plus the providers' price for the requests they cannot
carry, taken cheapest provider first up to each one's rate limit; a request no provider can
take either (it would queue past the latency target or fail) costs ``penalty`` dollars, far
above any price, so the schedule carries every request it can. Going from ``n`` to ``m > n``
ready costs the GPU time of ``m - n`` mean cold starts (with hindsight a replica is launched a
cold start before it is needed, so loading costs money, not latency); going down costs the
expected rounding of the bill (half a billing period per replica, 0 when billed per second).
Like the static policies, the schedule may start the trace with replicas already running.

The schedule is then replayed in the same simulator as every policy by ``Clairvoyant``, which
launches each replica its own (known) cold start ahead of the minute it is scheduled for (and,
billed by whole periods, keeps a replica to the end of the period it has paid for, which costs
nothing more), so the optimum's cost, share within target and bill come from the same
accounting as the policies'. That replayed cost is the bound the table's "gap" is measured
against.

``Unforeseen`` replays the same schedule without its foresight of when demand rises: each
replica is launched at the minute the schedule wants it serving, so it serves a cold start
late, and is given back as scheduled. It still knows which rises are worth a replica and when
they end, which no policy knows; what it loses against the optimum is what foresight of the
rises alone is worth, and its share within the target is what a policy that buys for exactly
the right rises, the moment they begin, can keep.

Billed per second the schedule is optimal for the DP's model; billed by whole periods the DP
only approximates the bill (half a period per replica given back), so the bound is looser and
a policy can come out below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .policies import Observation
from .run import Draws
from .serving import Shape, replica_for
from .traces import Trace
from .world import World

__all__ = ["Clairvoyant", "Unforeseen", "optimal_schedule"]

_MINUTE = 60.0
_PAID_SLACK_S = 60.0


def _hosted_cost(overflow: np.ndarray, world: World, shape: Shape, penalty: float) -> np.ndarray:
    """Dollars for ``overflow`` requests in one minute at the providers, cheapest first."""
    tokens = shape.input_tokens + shape.output_tokens
    left, cost = overflow.copy(), np.zeros_like(overflow)
    for p in world.ranked(shape.input_tokens, shape.output_tokens):
        take = np.minimum(left, p.tokens_per_minute / tokens)
        cost += take * p.per_request(shape.input_tokens, shape.output_tokens)
        left -= take
    return cost + left * penalty


def optimal_schedule(
    trace: Trace, world: World, draws: Draws, max_replicas: int, *, spill: bool = True
) -> tuple[list[int], float]:
    """Ready replicas per minute of the cheapest schedule, and its cost by the DP's account."""
    shape = Shape(trace.input_tokens, trace.output_tokens)
    replica = replica_for(world, trace.input_tokens, trace.output_tokens)
    per_tick = int(_MINUTE // world.tick_s)
    minutes = math.ceil(len(draws.arrivals) / per_tick)
    arrivals = np.array(
        [sum(draws.arrivals[m * per_tick : (m + 1) * per_tick]) for m in range(minutes)]
    )
    counts = np.arange(max_replicas + 1, dtype=float)
    carry = counts * replica.tokens_per_s * _MINUTE / shape.output_tokens  # requests/minute
    cheapest = world.ranked(shape.input_tokens, shape.output_tokens)[0]
    penalty = 100.0 * cheapest.per_request(shape.input_tokens, shape.output_tokens) + 1.0
    gpu_minute = world.replica_hourly / 60.0
    overflow = np.maximum(0.0, arrivals[:, None] - carry[None, :])  # minutes x counts
    if spill:
        stage = counts[None, :] * gpu_minute + _hosted_cost(overflow, world, shape, penalty)
    else:
        stage = counts[None, :] * gpu_minute + overflow * penalty
    cold = world.cold_start.mean_s
    up = world.replica_hourly * cold / 3600.0
    down = world.replica_hourly * (world.billing_s / 2.0) / 3600.0 if world.billing_s > 1 else 0.0
    steps = counts[None, :] - counts[:, None]  # from row n to column m
    switch = np.where(steps > 0, steps * up, -steps * down)
    value = np.zeros(max_replicas + 1)
    choice = np.zeros((minutes, max_replicas + 1), dtype=int)
    for t in range(minutes - 1, -1, -1):
        total = switch + value[None, :]
        choice[t] = np.argmin(total, axis=1)
        value = stage[t] + total[np.arange(max_replicas + 1), choice[t]]
    n = int(np.argmin(value))  # running before the trace starts, like a static policy's
    schedule, dollars = [], float(value[n])
    for t in range(minutes):
        schedule.append(n)
        n = int(choice[t][n])
    return schedule, dollars


@dataclass
class Clairvoyant:
    """Replays a schedule of ready replicas per minute, launching each replica its own known
    cold start ahead of when it is scheduled to serve."""

    schedule: list[int]
    draws: Draws
    billing_s: float = 1.0
    spill: bool = True
    launched: int = 0
    asked: int = 0
    name: str = field(default="hindsight optimum")

    def start(self) -> int:
        self.launched, self.asked = 0, self.schedule[0]
        return self.schedule[0]

    def _scheduled(self, t: float) -> int:
        minute = min(int(t // _MINUTE), len(self.schedule) - 1)
        return self.schedule[max(minute, 0)]

    def decide(self, seen: Observation) -> int:
        # keep what is scheduled from the next tick until the next launch would be ready
        lead = self.draws.cold_starts[self.launched % len(self.draws.cold_starts)]
        horizon = [seen.now + step for step in np.arange(0.0, lead + _MINUTE, 10.0)]
        wanted = max(self._scheduled(t) for t in horizon)
        wanted = max(wanted, self._scheduled(seen.now + 10.0))
        if wanted < self.asked and self.billing_s > 1 and seen.newest_age_s is not None:
            paid_left = self.billing_s - seen.newest_age_s % self.billing_s
            if paid_left > min(_PAID_SLACK_S, self.billing_s / 4):
                wanted = self.asked  # paid for already: serving with it costs nothing more
        if wanted > self.asked:
            self.launched += wanted - self.asked
        self.asked = wanted
        return wanted


@dataclass
class Unforeseen(Clairvoyant):
    """The schedule replayed without foresight: each replica launched when it is scheduled to
    serve, so it serves a cold start late."""

    name: str = field(default="optimum, unforeseen")

    def decide(self, seen: Observation) -> int:
        self.asked = self._scheduled(seen.now + 10.0)
        return self.asked
