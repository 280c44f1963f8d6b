"""How a pool of replicas and the hosted providers serve one tick of demand (a fluid model).

A replica is ``World.engine`` (the vLLM simulator's capacity model): a step lasts
``base + r x (per_seq + k x prefill) / gpus`` for ``r`` running sequences with ``k`` prompt
tokens per output token, and produces one token for each. Capped at ``max_num_seqs`` sequences
so a step never exceeds the per-token latency target, a replica carries ``max_num_seqs / step``
output tokens/s.

Per tick the router sends requests to ready replicas while they have room. With spill allowed
the rest go to the providers, cheapest first: each takes what its rate limit has left this
minute (the rest get 429 and move on), and a share of its attempts fail with a 5xx and are
retried at the next provider with room. What no provider takes queues at the replicas (the
router's busy pods come last) or, with none ready, fails. Without spill everything queues at the
replicas. A request is within the latency target when its first token comes within
``ttft_target_s``: locally, queue wait plus prefill plus one step; hosted, the time lost to 429s
and 5xx plus the provider's time to first token, or the hedge's when the router hedged a slow
first token at the next provider (``_hedged``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .world import HostedProvider, World

__all__ = ["Outcome", "Pool", "Replica", "replica_for", "serve"]


@dataclass(frozen=True)
class Replica:
    max_num_seqs: int
    tokens_per_s: float  # output tokens/s at max_num_seqs
    per_seq_s: float  # step time per running sequence, prefill share included
    ttft_s: float  # prefill plus the first step, at full batch


def replica_for(world: World, input_tokens: int, output_tokens: int) -> Replica:
    e = world.engine
    per_seq = (e.step_per_seq_s + (input_tokens / output_tokens) * e.prefill_token_s) / world.gpus
    seqs = max(1, math.floor((world.itl_target_s - e.step_base_s) / per_seq))
    step = e.step_base_s + seqs * per_seq
    chunks = math.ceil(input_tokens / e.max_num_batched_tokens)
    return Replica(seqs, seqs / step, per_seq, (chunks + 1) * step)


@dataclass
class Pool:
    """Replicas asked for (launch time, ready time) and vLLM's waiting requests; bills GPU time
    at ``billing_s`` granularity."""

    replicas: list[tuple[float, float]] = field(default_factory=list)
    backlog: float = 0.0
    launches: int = 0
    awaiting_reset: float = 0.0  # requests the router holds for the providers' next reset
    rounding_dollars: float = 0.0  # billed beyond the GPU time used, from rounding up

    def ready(self, now: float) -> int:
        return sum(1 for _, ready_at in self.replicas if ready_at <= now)

    def resize(self, wanted: int, now: float, world: World, cold_starts: tuple[float, ...]) -> None:
        self.replicas.sort(key=lambda r: r[1])
        while wanted > len(self.replicas):
            cold = cold_starts[self.launches % len(cold_starts)]
            self.replicas.append((now, now + cold))
            self.launches += 1
        # the newest (still loading) go first, as a ReplicaSet deletes unready pods first
        for launched, _ in self.replicas[wanted:]:
            self._bill_rounding(now - launched, world)
        del self.replicas[wanted:]

    def close(self, now: float, world: World) -> None:
        for launched, _ in self.replicas:
            self._bill_rounding(now - launched, world)

    def _bill_rounding(self, lived_s: float, world: World) -> None:
        step = world.billing_s
        billed = math.ceil(max(lived_s, 1e-9) / step) * step if step > 1 else lived_s
        self.rounding_dollars += (billed - lived_s) * world.replica_hourly / 3600.0


@dataclass(frozen=True)
class Outcome:
    served: float  # requests the replicas started this tick
    hosted: float  # requests the providers served
    hosted_dollars: float
    good: float  # requests within the latency target
    failed: float  # requests no one could take
    waiting: float  # requests waiting in vLLM at the end of the tick
    running: float  # sequences running over all ready replicas


@dataclass(frozen=True)
class Shape:
    input_tokens: int
    output_tokens: int


def _hosted(
    overflow: float,
    providers: tuple[HostedProvider, ...],
    shape: Shape,
    world: World,
    lost_s: float = 0.0,
) -> tuple[float, float, float]:
    """Requests the providers serve, their dollars, and how many of them within the target.

    Requests go down the list: a provider takes what its rate limit has left this tick; those it
    rejects (429) or fails (5xx) move to the next one, having lost ``reject_s`` or ``error_s``
    (tracked as the mean time lost by the requests still pending). Then the router's hedges
    (``_hedged``)."""
    tokens = shape.input_tokens + shape.output_tokens
    taken = dollars = 0.0
    pending, lost = overflow, lost_s
    room = [p.tokens_per_minute * world.tick_s / 60.0 / tokens for p in providers]
    served: list[tuple[int, float, float]] = []  # provider, requests it served, time lost before
    for i, p in enumerate(providers):
        if pending <= 0:
            break
        take = min(pending, room[i])
        room[i] -= take
        ok = take * (1.0 - p.error_rate)
        dollars += ok * p.per_request(shape.input_tokens, shape.output_tokens)
        taken += ok
        served.append((i, ok, lost))
        rejected, failed = pending - take, take - ok
        pending = rejected + failed
        if pending > 0:
            lost += (rejected * p.reject_s + failed * p.error_s) / pending
    good, hedge_dollars = _hedged(served, room, providers, shape, world)
    return taken, dollars + hedge_dollars, good


def _hedged(
    served: list[tuple[int, float, float]],
    room: list[float],
    providers: tuple[HostedProvider, ...],
    shape: Shape,
    world: World,
) -> tuple[float, float]:
    """How many served requests came within the target, with the router's hedging, and what
    the hedges cost.

    A request still without its first token at its provider's ``hedge_quantile`` of them
    (``proxy/hedging.py``; the router learns it, here the log-normal's own) is sent again to
    the next provider with room left this tick, whose rate limit it uses; the first to answer
    wins and the other is cancelled, billed its prompt (an assumption: the router cannot see
    it). A request past its budget at its first provider is past the hedge too (the hedge comes
    before the target), so it is in time if the hedge's first token comes within what is left.
    Hedges to busy local pods, the plan's last candidates, are not modelled."""
    q, good, dollars = world.hedge_quantile, 0.0, 0.0
    for i, ok, lost in served:
        p = providers[i]
        budget = world.ttft_target_s - lost
        within = p.within(budget)
        good += ok * within
        if q <= 0 or ok <= 0:
            continue
        after, wanted = p.quantile(q), ok * (1.0 - q)
        for j in range(i + 1, len(providers)):
            sent = min(wanted, room[j])
            if sent <= 0:
                continue
            room[j] -= sent
            wanted -= sent
            other = providers[j]
            dollars += sent * shape.input_tokens * min(p.input_price, other.input_price) / 1e6
            if after < budget:  # of the hedged, those late at p and in time at the other
                share = sent / (ok * (1.0 - q))
                good += ok * (1.0 - within) * share * other.within(budget - after)
    return good, dollars


def serve(
    pool: Pool,
    arrivals: float,
    ready: int,
    replica: Replica,
    *,
    spill: bool,
    world: World,
    shape: Shape,
) -> Outcome:
    dt = world.tick_s
    capacity = ready * replica.tokens_per_s / shape.output_tokens * dt  # requests this tick
    hosted = hosted_dollars = hosted_good = failed = 0.0
    local = min(arrivals, max(0.0, capacity - pool.backlog)) if spill else arrivals
    rest = arrivals - local
    held, pool.awaiting_reset = pool.awaiting_reset, 0.0
    if spill and rest + held > 0:
        providers = world.ranked(shape.input_tokens, shape.output_tokens)
        lost = held * dt / (rest + held)  # the held ones waited a tick: the mean time lost
        hosted, hosted_dollars, hosted_good = _hosted(rest + held, providers, shape, world, lost)
        left = rest + held - hosted
        rest = left * rest / (rest + held)  # this tick's share of what no provider took
        if ready == 0:
            if dt <= world.spent_wait_s:  # the router holds them for the next reset, once
                pool.awaiting_reset = rest
                failed = left - rest
            else:
                failed = left
            rest = 0.0
        else:
            rest = left
        local += rest
    wait = math.inf if capacity <= 0 else pool.backlog / capacity * dt
    served = min(pool.backlog + local, capacity)
    pool.backlog += local - served
    waiting = pool.backlog
    if spill and hosted > 0:
        waiting = max(waiting, float(world.queue_depth * ready))
    busy = served * shape.output_tokens / dt / max(ready, 1)  # tokens/s per replica
    if waiting > 0 or busy >= replica.tokens_per_s:
        running = float(replica.max_num_seqs)
    else:  # r = busy x step(r), step(r) = base + r x per_seq
        base = (
            replica.max_num_seqs / replica.tokens_per_s - replica.max_num_seqs * replica.per_seq_s
        )
        running = busy * base / (1.0 - busy * replica.per_seq_s)
    good_local = local if wait + replica.ttft_s <= world.ttft_target_s else 0.0
    return Outcome(
        served=served,
        hosted=hosted,
        hosted_dollars=hosted_dollars,
        good=good_local + hosted_good,
        failed=failed,
        waiting=waiting,
        running=running * ready,
    )
