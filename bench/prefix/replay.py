"""Replay a trace through one policy over simulated vLLM engines stepped in lockstep with the
arrivals (virtual time), and what it yields: TTFTs, output tokens, prefix hits, requests per pod."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.engine_state import Seq, add_request
from gptoss_sim.prefix_cache import block_hashes
from gptoss_sim.scheduler import step

from .policies import Pod, policies
from .trace import Conversation, Tokens, Trace

__all__ = ["MODEL", "Result", "capacity_rps", "quantile", "run"]

MODEL = "gpt-oss-120b"


def capacity_rps(params: CapacityParams, prompt: float, output: float, pods: int) -> float:
    """Requests/s the pods serve with no prompt block cached: prefill at ``prefill_token_s``,
    decode as one sequence of a full batch (step time over the batch)."""
    batch = 64
    decode = (params.step_base_s + params.step_per_seq_s * batch) / batch
    return pods / (prompt * params.prefill_token_s + output * decode)


@dataclass
class Result:
    ttfts: list[float]
    output_tokens: int
    seconds: float
    hits: int
    queries: int
    served: list[int]


def run(
    trace: Trace, params: CapacityParams, pod_count: int, policy_name: str, seed: int
) -> Result:
    rng = random.Random(seed)  # noqa: S311 - a benchmark's randomness
    tokens = Tokens()
    pods = [Pod(f"http://10.0.0.{i + 1}:8000") for i in range(pod_count)]
    pick = policies(pods, rng)[policy_name]
    # (time, order, conversation): the next turn of a conversation to send.
    arrivals: list[tuple[float, int, Conversation]] = [
        (at, c.cid, replace(c, segments=list(c.segments))) for at, c in trace.starts
    ]
    heapq.heapify(arrivals)
    meta: dict[int, tuple[Conversation, int, Pod]] = {}  # rid -> conversation, output, pod
    ttfts: list[float] = []
    output_total, rid, last = 0, 0, 0.0
    while arrivals or any(p.state.running or p.state.waiting for p in pods):
        next_at = arrivals[0][0] if arrivals else float("inf")
        for pod in pods:  # run every pod up to the next arrival
            while (pod.state.running or pod.state.waiting) and pod.state.now < next_at:
                result = step(pod.state, params)
                if result is None:
                    break
                pod.state = result.state
                for event in result.events:
                    if not event.finished:
                        continue
                    convo, output, owner = meta.pop(event.seq.rid)
                    owner.inflight -= 1
                    seq = event.seq
                    if seq.first_token_at is not None:
                        ttfts.append(seq.first_token_at - seq.arrived_at)
                    output_total += output
                    last = max(last, pod.state.now)
                    convo.segments.append((f"a{seq.rid}", output))
                    if convo.sent < convo.turns:
                        think = rng.uniform(0.5, 3.0)
                        heapq.heappush(arrivals, (pod.state.now + think, convo.cid, convo))
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
        pod = pick(pods, request)
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
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
