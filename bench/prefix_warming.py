"""A replica that joins under load, with and without the router's warm-up of hot prefixes.

    .venv/bin/python bench/prefix_warming.py [--pods 4] [--loads 0.5,0.8] [--minutes 4]
        [--join-at 120] [--window 60] [--apps 8] [--seed 7]

The trace and the engines are ``bench/prefix_routing.py``'s (multi-turn agentic conversations of
apps whose system prompts and tools run to 2,000 to 8,000 tokens, over the vLLM simulator's
scheduler and prefix cache in virtual time), with the router's choice of pod (prefix affinity
with bounded load). The last pod joins at ``--join-at`` seconds, as a replica the autoscaler
added. The hash ring then sends it its share of the conversations, whose next turns find
nothing of theirs in its cache. Without warming, the first turn of each app there prefills the
app's whole system prompt and tools; with it (``watch.warming``), the pod is first sent each
app's shared beginning and takes traffic once those are answered.

Prints, per load: how long the warm-up held the pod back, and the time to first token of the
requests the new pod served in its first ``--window`` seconds of traffic, and of every request
of the run, without and with warming, from the same trace and engines.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.prefix.replay import Join, capacity_rps, quantile, run  # noqa: E402
from bench.prefix.trace import make_trace  # noqa: E402

from gptoss_sim.capacity import CapacityParams  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=4, help="the last one joins")
    parser.add_argument("--loads", default="0.5,0.8", help="of the pods' capacity")
    parser.add_argument("--minutes", type=float, default=4.0, help="of conversation starts")
    parser.add_argument("--join-at", type=float, default=120.0)
    parser.add_argument("--window", type=float, default=60.0, help="the new pod's first seconds")
    parser.add_argument("--apps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    params = CapacityParams(kv_cache_tokens=400_000, startup_s=0.0)
    mean_turns, mean_history, mean_output = 12.5, 11.5 / 2 * 400 + 225, 175.0
    full = capacity_rps(params, mean_history, mean_output, args.pods)
    print(
        f"{args.pods} pods (the last joins at {args.join_at:g} s), {args.apps} apps, "
        f"capacity ~{full:.1f} requests/s; the new pod's first {args.window:g} s of traffic"
    )
    print(
        f"{'load':>6}{'warming':>9}{'held back s':>12}{'requests':>9}{'TTFT p50':>10}"
        f"{'p90':>8}{'p99':>8}{'all p90':>9}"
    )
    for load in (float(x) for x in args.loads.split(",")):
        trace = make_trace(
            random.Random(args.seed),  # noqa: S311 - a benchmark's randomness
            apps=args.apps,
            minutes=args.minutes,
            rate=load * full / mean_turns,
            sharing=True,
        )
        rows = {}
        for warm in (False, True):
            join = Join(at=args.join_at, warm=warm, window_s=args.window)
            r = rows[warm] = run(trace, params, args.pods, "gptoss", args.seed, join)
            print(
                f"{load:>6.0%}{'on' if warm else 'off':>9}{r.routable_after_s:>12.2f}"
                f"{len(r.joined_ttfts):>9}{quantile(r.joined_ttfts, 0.5):>10.3f}"
                f"{quantile(r.joined_ttfts, 0.9):>8.3f}{quantile(r.joined_ttfts, 0.99):>8.3f}"
                f"{quantile(r.ttfts, 0.9):>9.3f}"
            )
        cold, warmed = rows[False].joined_ttfts, rows[True].joined_ttfts
        print(
            f"{'':>6}new pod's p50 {quantile(cold, 0.5) / quantile(warmed, 0.5):.1f}x and "
            f"p90 {quantile(cold, 0.9) / quantile(warmed, 0.9):.1f}x lower with warming"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
