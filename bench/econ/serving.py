"""How a pool of replicas and the hosted providers serve one tick of demand (a fluid model).

A replica is the vLLM simulator's capacity model of gpt-oss-120b on one H100
(``gptoss_sim.capacity.CapacityParams``): a step lasts ``base + r x (per_seq + k x prefill)``
for ``r`` running sequences with ``k`` prompt tokens per output token, and produces one token for
each of them. Capped at ``max_num_seqs`` sequences, so a step never exceeds the per-token
latency target, a replica carries ``max_num_seqs / step`` output tokens/s; that cap is
``spec.serving.maxNumSeqs``, set for the target, in every policy.

Per tick the router sends requests to ready replicas while they have room and spills the rest to
a provider when spilling is allowed; otherwise they wait in vLLM's queue. A request is within the
latency target when its time to first token (queue wait, prefill in chunks of
``max_num_batched_tokens``, one step) is within ``ttft_target_s``; the cap keeps every local
token within ``itl_target_s``. Providers answer in ``hosted_ttft_s`` at ``hosted_tokens_per_s``
(the router's priors for a provider, ``ProviderConfig.expected_ttft_s`` and
``expected_tokens_per_s``), within the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gptoss_sim import CapacityParams

__all__ = ["Outcome", "Pool", "Replica", "World", "replica_for", "serve"]


@dataclass(frozen=True)
class World:
    gpu_hourly: float = 2.69  # economics.DEFAULT_GPU_HOURLY_PRICE["H100-80GB"]
    input_price: float = 0.15  # dollars per million tokens, docs/sources.md, Providers
    output_price: float = 0.60
    cold_start_s: float = 180.0  # the CRD's coldStart default
    tick_s: float = 10.0
    ttft_target_s: float = 2.0
    itl_target_s: float = 0.05  # 20 tokens/s per request
    hosted_ttft_s: float = 1.0
    hosted_tokens_per_s: float = 300.0
    queue_depth: int = 4  # the router's max_queue_depth per pod before it spills
    engine: CapacityParams = field(default_factory=CapacityParams)


@dataclass(frozen=True)
class Replica:
    max_num_seqs: int
    tokens_per_s: float  # output tokens/s at max_num_seqs
    per_seq_s: float  # step time per running sequence, prefill share included
    ttft_s: float  # prefill plus the first step, at full batch


def replica_for(world: World, input_tokens: int, output_tokens: int) -> Replica:
    e = world.engine
    per_seq = e.step_per_seq_s + (input_tokens / output_tokens) * e.prefill_token_s
    seqs = max(1, math.floor((world.itl_target_s - e.step_base_s) / per_seq))
    step = e.step_base_s + seqs * per_seq
    chunks = math.ceil(input_tokens / e.max_num_batched_tokens)
    return Replica(seqs, seqs / step, per_seq, (chunks + 1) * step)


@dataclass
class Pool:
    """Replicas asked for (each with the time it becomes ready) and vLLM's waiting requests."""

    ready_at: list[float]
    backlog: float = 0.0

    def ready(self, now: float) -> int:
        return sum(1 for t in self.ready_at if t <= now)

    def resize(self, wanted: int, now: float, cold_start_s: float) -> None:
        self.ready_at.sort()
        if wanted > len(self.ready_at):
            self.ready_at += [now + cold_start_s] * (wanted - len(self.ready_at))
        else:  # the newest (still loading) go first, as a ReplicaSet deletes unready pods first
            del self.ready_at[wanted:]


@dataclass(frozen=True)
class Outcome:
    local: float  # requests sent to replicas this tick
    served: float  # requests the replicas finished this tick (fluid: as many as they started)
    hosted: float  # requests spilled
    good: float  # requests within the latency target
    waiting: float  # requests waiting in vLLM at the end of the tick
    running: float  # sequences running over all ready replicas
    saturated: bool


def serve(
    pool: Pool,
    arrivals: float,
    ready: int,
    replica: Replica,
    *,
    spill: bool,
    world: World,
    output_tokens: int,
) -> Outcome:
    dt = world.tick_s
    capacity = ready * replica.tokens_per_s / output_tokens * dt  # requests this tick
    if spill:
        local = served = min(arrivals, capacity)
        hosted = arrivals - local
        waiting = world.queue_depth * ready if hosted > 0 else 0.0
        wait = 0.0
    else:
        local, hosted = arrivals, 0.0
        wait = math.inf if capacity <= 0 else pool.backlog / capacity * dt
        served = min(pool.backlog + arrivals, capacity)
        pool.backlog += arrivals - served
        waiting = pool.backlog
    busy = served * output_tokens / dt / max(ready, 1)  # tokens/s per replica
    if waiting > 0 or busy >= replica.tokens_per_s:
        running = float(replica.max_num_seqs)
    else:  # r = busy x step(r), step(r) = base + r x per_seq
        base = (
            replica.max_num_seqs / replica.tokens_per_s - replica.max_num_seqs * replica.per_seq_s
        )
        running = busy * base / (1.0 - busy * replica.per_seq_s)
    good_local = local if wait + replica.ttft_s <= world.ttft_target_s else 0.0
    good_hosted = hosted if world.hosted_ttft_s <= world.ttft_target_s else 0.0
    return Outcome(
        local=local,
        served=served,
        hosted=hosted,
        good=good_local + good_hosted,
        waiting=waiting,
        running=running * ready,
        saturated=waiting > 0 or hosted > 0,
    )
