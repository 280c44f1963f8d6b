"""Replay a trace through one policy over simulated vLLM engines stepped in lockstep with the
arrivals (virtual time), and what it yields: TTFTs, output tokens, prefix hits, requests per pod.

With ``join`` the last pod starts outside the pool and joins it at ``join.at``, as a replica the
autoscaler added; with ``join.warm`` it is first sent each app's shared beginning, one token to
generate, and takes traffic only once those are answered (the router's ``watch.warming``). The
requests it serves in its first ``join.window_s`` of traffic are reported apart."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.engine_state import Seq, add_request
from gptoss_sim.prefix_cache import block_hashes
from gptoss_sim.scheduler import step

from .policies import Pod, policies
from .trace import Conversation, Tokens, Trace

__all__ = ["MODEL", "Join", "Result", "capacity_rps", "quantile", "run"]

MODEL = "gpt-oss-120b"


def capacity_rps(params: CapacityParams, prompt: float, output: float, pods: int) -> float:
    """Requests/s the pods serve with no prompt block cached: prefill at ``prefill_token_s``,
    decode as one sequence of a full batch (step time over the batch)."""
    batch = 64
    decode = (params.step_base_s + params.step_per_seq_s * batch) / batch
    return pods / (prompt * params.prefill_token_s + output * decode)


@dataclass(frozen=True)
class Join:
    """The last pod joins at ``at`` seconds; ``warm``: with the router's warm-up first."""

    at: float
    warm: bool
    window_s: float = 60.0


@dataclass
class Result:
    ttfts: list[float]
    output_tokens: int
    seconds: float
    hits: int
    queries: int
    served: list[int]
    joined_ttfts: list[float] = field(default_factory=list)  # the new pod's first window
    routable_after_s: float = 0.0  # from joining to taking traffic (its warm-up)


def run(
    trace: Trace,
    params: CapacityParams,
    pod_count: int,
    policy_name: str,
    seed: int,
    join: Join | None = None,
) -> Result:
    rng = random.Random(seed)  # noqa: S311 - a benchmark's randomness
    tokens = Tokens()
    pods = [Pod(f"http://10.0.0.{i + 1}:8000") for i in range(pod_count)]
    pick = policies(pods, rng)[policy_name]
    newcomer = pods[-1] if join is not None else None
    active = pods[:-1] if join is not None else pods
    started = join is None
    routable_at = float("inf") if join is not None else 0.0
    warming: set[int] = set()  # warm-up requests not yet answered
    window = join.window_s if join is not None else 0.0
    # (time, order, conversation): the next turn of a conversation to send.
    arrivals: list[tuple[float, int, Conversation]] = [
        (at, c.cid, replace(c, segments=list(c.segments))) for at, c in trace.starts
    ]
    heapq.heapify(arrivals)
    meta: dict[int, tuple[Conversation, int, Pod]] = {}  # rid -> conversation, output, pod
    ttfts: list[float] = []
    joined: list[float] = []
    output_total, rid, last = 0, 0, 0.0
    while arrivals or any(p.state.running or p.state.waiting for p in pods):
        next_at = arrivals[0][0] if arrivals else float("inf")
        if not started and join is not None and newcomer is not None and next_at >= join.at:
            started = True
            rid = _start(newcomer, join, trace, tokens, params, rid, warming)
            if not warming:
                routable_at = join.at
        for pod in pods:  # run every pod up to the next arrival
            while (pod.state.running or pod.state.waiting) and pod.state.now < next_at:
                result = step(pod.state, params)
                if result is None:
                    break
                pod.state = result.state
                for event in result.events:
                    if not event.finished:
                        continue
                    seq = event.seq
                    if seq.rid in warming:
                        warming.discard(seq.rid)
                        if not warming:
                            routable_at = pod.state.now
                        continue
                    convo, output, owner = meta.pop(seq.rid)
                    owner.inflight -= 1
                    if seq.first_token_at is not None:
                        ttft = seq.first_token_at - seq.arrived_at
                        ttfts.append(ttft)
                        if owner is newcomer and seq.arrived_at < routable_at + window:
                            joined.append(ttft)
                    output_total += output
                    last = max(last, pod.state.now)
                    convo.segments.append((f"a{seq.rid}", output))
                    if convo.sent < convo.turns:
                        think = rng.uniform(0.5, 3.0)
                        heapq.heappush(arrivals, (pod.state.now + think, convo.cid, convo))
        if active is not pods and routable_at <= next_at:
            active = pods  # the newcomer takes traffic from the next arrival on
        if not arrivals:
            continue
        at, _, convo = heapq.heappop(arrivals)
        user = (f"u{convo.cid}-{convo.sent}", rng.randint(50, 400))
        convo.segments.append(user)
        convo.sent += 1
        request = {
            "model": MODEL,
            "messages": [
                {"role": "system" if i == 0 else ("user" if i % 2 else "assistant"), "content": s}
                for i, (s, _) in enumerate(convo.segments)
            ],
        }
        pod = pick(active, request)
        ids = [t for s, n in convo.segments for t in tokens.of(s, n)]
        output = rng.randint(50, 300)
        answer = tokens.of(f"a{rid}", output)
        hashes = block_hashes([*ids, *answer], params.block_size)
        seq = Seq(rid, len(ids), output, arrived_at=at, hashes=hashes)
        if not (pod.state.running or pod.state.waiting):
            pod.state = replace(pod.state, now=max(pod.state.now, at))
        pod.state = add_request(pod.state, seq)
        pod.inflight += 1
        pod.served += 1
        meta[rid] = (convo, output, pod)
        rid += 1
    first = trace.starts[0][0] if trace.starts else 0.0
    return Result(
        ttfts=ttfts,
        output_tokens=output_total,
        seconds=max(1e-9, last - first),
        hits=sum(p.state.prefix_hits for p in pods),
        queries=sum(p.state.prefix_queries for p in pods),
        served=[p.served for p in pods],
        joined_ttfts=joined,
        routable_after_s=(routable_at - join.at) if join is not None else 0.0,
    )


def _start(
    pod: Pod,
    join: Join,
    trace: Trace,
    tokens: Tokens,
    params: CapacityParams,
    rid: int,
    warming: set[int],
) -> int:
    """The pod starts at ``join.at``; warmed, with one request per app's shared beginning (its
    system prompt and tools, then a one-token user message) answered with one token."""
    pod.state = replace(pod.state, now=max(pod.state.now, join.at))
    if not join.warm:
        return rid
    for app, count in enumerate(trace.apps):
        ids = [*tokens.of(f"app{app}", count), *tokens.of(f"warm{app}", 1)]
        hashes = block_hashes([*ids, *tokens.of(f"warm-answer{app}", 1)], params.block_size)
        pod.state = add_request(pod.state, Seq(rid, len(ids), 1, arrived_at=join.at, hashes=hashes))
        warming.add(rid)
        rid += 1
    return rid


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
