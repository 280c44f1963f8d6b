"""Prefix-aware pod choice against P2C, round robin and random, over a multi-turn agentic trace.

    .venv/bin/python bench/prefix_routing.py [--pods 4] [--loads 0.5,0.8,1.0] [--minutes 2]
        [--kv-cache-tokens 400000] [--seed 7] [--no-sharing] [--turns 5,20]

Each pod is the vLLM simulator's engine model (``gptoss_sim.scheduler``: vLLM's scheduler, chunked
prefill and its prefix cache with LRU eviction, run in virtual time, so minutes of traffic take
seconds). The pods are stepped in lockstep with the arrivals. At each arrival a policy picks a
pod from the pods' in-flight counts, which is what the router knows of its own requests. The
policies:

- ``gptoss``: the router's choice: the pod a conversation's last turn went to while it stays
  within the load bound, else its prefix key (``routing.affinity.prefix_key`` on the request's
  messages) on a consistent-hash ring with bounded load (``routing.affinity.choose``);
- ``p2c``: the less loaded of two random pods (the router's choice before prefix affinity);
- ``round_robin`` and ``random``.

The trace: apps, each with a shared system prompt and tools of 2,000 to 8,000 tokens.
Conversations of 5 to 20 turns start as a Poisson process. Each turn sends the whole history:
system and tools, then every earlier user message and answer, then the new user message of 50
to 400 tokens. It asks for 50 to 300 output tokens. The next turn comes 0.5 to 3 s after the
answer, as an agent's tool call would. The load is given as a share of the pods' capacity when
only the apps' shared prefixes are cached (every policy caches those on every pod soon): the
request rate at which prefill of the rest of each prompt, and decode, would use the pods fully.

Each answer's token ids are drawn when its request is sent, and the request's block hashes run
over prompt and answer. The blocks the engine fills while generating therefore carry the hashes
that the next turn's prompt, which repeats the answer, looks up, as in vLLM. With
``--no-sharing`` apps share no system prompt: each conversation has its own; with
``--no-sharing --turns 1,1`` no two requests share anything, the case where affinity can only
cost.

Prints one table per load: TTFT p50/p90/p99, output tokens/s, prefix hit rate and the busiest
pod's share of requests against the mean. Ratios against P2C are from the same trace and
engines.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import random
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gptoss_router.routing.affinity import Ring, choose, prefix_key, within_bound
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.engine_state import EngineState, Seq, add_request
from gptoss_sim.prefix_cache import block_hashes
from gptoss_sim.scheduler import step

MODEL = "gpt-oss-120b"


@dataclass
class Conversation:
    cid: int
    app: int
    turns: int
    segments: list[tuple[str, int]]  # (segment id, tokens): system+tools, then each message
    sent: int = 0


@dataclass
class Trace:
    apps: list[int]  # tokens of each app's shared system prompt and tools
    starts: list[tuple[float, Conversation]]


@dataclass
class Pod:
    name: str
    state: EngineState = field(default_factory=EngineState)
    inflight: int = 0
    served: int = 0


def make_trace(
    rng: random.Random,
    *,
    apps: int,
    minutes: float,
    rate: float,
    sharing: bool,
    turns: tuple[int, int] = (5, 20),
) -> Trace:
    """Conversations starting as a Poisson process at ``rate`` per second."""
    app_tokens = [rng.randint(2000, 8000) for _ in range(apps)]
    starts: list[tuple[float, Conversation]] = []
    now, cid = 0.0, 0
    while now < minutes * 60:
        now += rng.expovariate(rate)
        app = rng.randrange(apps)
        system = f"app{app}" if sharing else f"solo{cid}"
        convo = Conversation(cid, app, rng.randint(*turns), [(system, app_tokens[app])])
        starts.append((now, convo))
        cid += 1
    return Trace(app_tokens, starts)


def capacity_rps(params: CapacityParams, prompt: float, output: float, pods: int) -> float:
    """Requests/s the pods serve with no prompt block cached: prefill at ``prefill_token_s``,
    decode as one sequence of a full batch (step time over the batch)."""
    batch = 64
    decode = (params.step_base_s + params.step_per_seq_s * batch) / batch
    return pods / (prompt * params.prefill_token_s + output * decode)


class Tokens:
    """Deterministic token ids per segment, made once."""

    def __init__(self) -> None:
        self._cache: dict[str, list[int]] = {}

    def of(self, segment: str, count: int) -> list[int]:
        found = self._cache.get(segment)
        if found is None:
            seed = int.from_bytes(hashlib.sha256(segment.encode()).digest()[:8], "big")
            gen = random.Random(seed)  # noqa: S311 - synthetic token ids
            found = self._cache[segment] = [gen.randrange(200_000) for _ in range(count)]
        return found


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=4)
    parser.add_argument("--loads", default="0.5,0.8,1.0")
    parser.add_argument("--minutes", type=float, default=2.0, help="of conversation starts")
    parser.add_argument("--apps", type=int, default=4)
    parser.add_argument("--kv-cache-tokens", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-sharing", action="store_true", help="no system prompt shared")
    parser.add_argument("--turns", default="5,20", help="turns per conversation: min,max")
    args = parser.parse_args()
    params = CapacityParams(kv_cache_tokens=args.kv_cache_tokens, startup_s=0.0)
    # A turn's mean prompt past the shared 2-8k prefix: 6.5 earlier turns of a 50-400-token
    # message and a 50-300-token answer, and its own message.
    low, high = (int(x) for x in args.turns.split(","))
    mean_turns = (low + high) / 2
    mean_history, mean_output = (mean_turns - 1) / 2 * (225 + 175) + 225, 175.0
    full = capacity_rps(params, mean_history, mean_output, args.pods)
    print(
        f"{args.pods} pods, KV cache {args.kv_cache_tokens:,} tokens each, block "
        f"{params.block_size}, {args.apps} apps, sharing {'off' if args.no_sharing else 'on'}; "
        f"capacity with shared prefixes cached ~{full:.1f} requests/s"
    )
    names = ["gptoss", "p2c", "round_robin", "random"]
    for load in (float(x) for x in args.loads.split(",")):
        conv_rate = load * full / mean_turns
        trace = make_trace(
            random.Random(args.seed),  # noqa: S311 - a benchmark's randomness
            apps=args.apps,
            minutes=args.minutes,
            rate=conv_rate,
            sharing=not args.no_sharing,
            turns=(low, high),
        )
        print(f"\nload {load:.0%}: {len(trace.starts)} conversations, {conv_rate:.2f}/s")
        print(
            f"  {'policy':<12}{'requests':>9}{'TTFT p50':>10}{'p90':>9}{'p99':>9}"
            f"{'tok/s':>9}{'hit rate':>9}{'max/mean':>9}"
        )
        rows = {name: run(trace, params, args.pods, name, args.seed) for name in names}
        for name, r in rows.items():
            mean_served = statistics.fmean(r.served)
            print(
                f"  {name:<12}{len(r.ttfts):>9}{quantile(r.ttfts, 0.5):>10.3f}"
                f"{quantile(r.ttfts, 0.9):>9.3f}{quantile(r.ttfts, 0.99):>9.3f}"
                f"{r.output_tokens / r.seconds:>9.0f}{r.hits / max(1, r.queries):>9.1%}"
                f"{max(r.served) / mean_served:>9.2f}"
            )
        ours, base = rows["gptoss"], rows["p2c"]
        p90 = quantile(base.ttfts, 0.9) / quantile(ours.ttfts, 0.9)
        rate = (ours.output_tokens / ours.seconds) / (base.output_tokens / base.seconds)
        print(f"  gptoss vs p2c: p90 TTFT {p90:.1f}x better, throughput {rate - 1:+.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
