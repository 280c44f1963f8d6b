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
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.prefix.replay import capacity_rps, quantile, run  # noqa: E402
from bench.prefix.trace import make_trace  # noqa: E402

from gptoss_sim.capacity import CapacityParams  # noqa: E402


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
