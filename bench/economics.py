"""Replay demand traces against autoscaling policies and measure them against the hindsight
optimum.

    python bench/economics.py [--traces bench/econ/traces] [--prices 1,2,3]
                              [--billing-s 1] [--cold-start-s 180] [--seed 1]
                              [--burst-standby 4h] [--minutes N] [--tick-s 10]
                              [--restarts 2h] [--hedge-quantile 0.95]
                              [--out bench/results] [--regenerate]

Policies: always hosted; always N local replicas (the cheapest N that keeps 99 % of requests
within the latency target) with and without spill; queue-depth scaling with spill; the cost
policy, at its defaults and with a ``burstStandby`` (``--burst-standby``); and the
hindsight-optimal schedule (``bench/econ/optimum.py``). The queue-depth and cost
policies run the operator's own deciding code, the cost policy with the operator's own capacity
priors and prices. Every policy meets the same arrivals and cold starts. Prints one table per
(trace, GPU price) and the goals table; writes economics.json and economics.png to ``--out``.
``--minutes`` cuts each trace to its first N minutes (for a quick run); ``--regenerate``
rewrites the shipped traces from their generator and seed. ``--tick-s`` is the world's step:
arrivals, the providers' rate limits and every policy's decisions (1 is the operator's loop,
and the providers' limits enforced per second; ten times slower to run). ``--restarts``
also replays the cost policy with the operator restarted that often, forgetting what it
learned or reading it back from status (``bench/econ/restarts.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "operator", ROOT / "router", ROOT / "simulators"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from bench.econ.compare import Comparison, compare  # noqa: E402
from bench.econ.report import goals_table, plot, table, to_json  # noqa: E402
from bench.econ.restarts import restart_rows, restarts_table  # noqa: E402
from bench.econ.run import draws_for  # noqa: E402
from bench.econ.traces import KINDS, TRACES_DIR, Trace, generate, load, save  # noqa: E402
from bench.econ.world import ColdStart, World  # noqa: E402

from gptoss_operator.autoscaling.decide import parse_duration  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _cut(trace: Trace, minutes: int | None) -> Trace:
    if minutes is None:
        return trace
    return replace(trace, requests_per_s=trace.requests_per_s[:minutes])


def run(
    traces: list[Trace],
    prices: list[float],
    world: World,
    seed: int = 1,
    burst_standby: str | None = None,
) -> list[Comparison]:
    comparisons = []
    for trace in traces:
        for price in prices:
            priced = replace(world, gpu_hourly=price)
            draws = draws_for(trace, priced, seed)
            comparisons.append(compare(trace, priced, draws, burst_standby))
    return comparisons


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--traces", type=Path, default=TRACES_DIR)
    parser.add_argument("--prices", default="1,2,3", help="GPU prices, dollars per GPU-hour")
    parser.add_argument("--billing-s", type=float, default=1.0, help="1, 60 or 3600")
    parser.add_argument("--cold-start-s", type=float, default=ColdStart().median_s)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--burst-standby",
        default="4h",
        help="also run the cost policy with this spec.autoscaling.burstStandby (0s: do not)",
    )
    parser.add_argument(
        "--restarts", default="0s", help="also replay the operator restarted this often"
    )
    parser.add_argument("--minutes", type=int, default=None)
    parser.add_argument("--tick-s", type=float, default=World().tick_s)
    parser.add_argument(
        "--hedge-quantile",
        type=float,
        default=World().hedge_quantile,
        help="the router's tuning.hedge_quantile (0: the router never hedges)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    if args.regenerate:
        for kind in KINDS:
            print("wrote", save(generate(kind, args.seed), args.traces))
    started = time.perf_counter()
    traces = [_cut(load(p), args.minutes) for p in sorted(args.traces.glob("*.json"))]
    world = World(
        billing_s=args.billing_s,
        cold_start=replace(ColdStart(), median_s=args.cold_start_s),
        tick_s=args.tick_s,
        hedge_quantile=args.hedge_quantile,
    )
    prices = [float(p) for p in args.prices.split(",")]
    standby = None if parse_duration(args.burst_standby) <= 0 else args.burst_standby
    comparisons = run(traces, prices, world, args.seed, standby)
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()})\n"
    )
    print(table(comparisons))
    print(goals_table(comparisons))
    every_s = parse_duration(args.restarts)
    if every_s > 0:
        rows = [
            row
            for c in comparisons
            for row in restart_rows(
                next(t for t in traces if t.name == c.trace),
                c,
                draws_for(next(t for t in traces if t.name == c.trace), c.world, args.seed),
                every_s,
                standby,
            )
        ]
        print()
        print(restarts_table(rows, every_s))
    print(f"\n({time.perf_counter() - started:.1f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "economics.json").write_text(json.dumps(to_json(comparisons), indent=2) + "\n")
    plot(args.out / "economics.png", comparisons)
    print(f"wrote {args.out / 'economics.json'} and {args.out / 'economics.png'}")


if __name__ == "__main__":
    main()
