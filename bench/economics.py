"""Replay demand traces against autoscaling policies and compare what they cost.

    python bench/economics.py [--traces bench/econ/traces] [--gpu-hourly 2.69]
                              [--prices 1.0,1.5,2.0,2.69,3.49] [--regenerate --seed 1]

Policies: always hosted; always N local replicas (the cheapest N that keeps 99 % of requests
within the latency target) and the same with spill; queue-depth scaling without and with spill;
the cost policy. The queue-depth and cost policies run the operator's own deciding code. Each
trace is replayed with the same arrivals for every policy (``bench/econ/serving.py`` has the
serving model). Prints one table per trace and the cost policy's saving against the best static
policy at several GPU prices; writes bench/results/economics.json and economics.png.
``--regenerate`` rewrites the shipped traces from their generator and seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from econ.compare import compare
from econ.report import plot, sweep_table, table, to_json
from econ.serving import World
from econ.traces import KINDS, TRACES_DIR, generate, load, save

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=Path, default=TRACES_DIR)
    parser.add_argument("--gpu-hourly", type=float, default=World().gpu_hourly)
    parser.add_argument("--prices", default="1.0,1.5,2.0,2.69,3.49")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.regenerate:
        for kind in KINDS:
            print("wrote", save(generate(kind, args.seed), args.traces))
    started = time.perf_counter()
    traces = {t.name: t for t in (load(p) for p in sorted(args.traces.glob("*.json")))}
    world = World(gpu_hourly=args.gpu_hourly)
    comparisons = [compare(t, world) for t in traces.values()]
    prices = [float(p) for p in args.prices.split(",")]
    sweep = {
        name: [compare(t, replace(world, gpu_hourly=p)) for p in prices]
        for name, t in traces.items()
    }
    print(table(comparisons))
    print(sweep_table(prices, sweep))
    print(f"\n({time.perf_counter() - started:.1f} s)")
    RESULTS.mkdir(exist_ok=True)
    document = to_json(comparisons, prices, sweep)
    (RESULTS / "economics.json").write_text(json.dumps(document, indent=2) + "\n")
    plot(RESULTS / "economics.png", comparisons, traces, prices, sweep)
    print(f"wrote {RESULTS / 'economics.json'} and {RESULTS / 'economics.png'}")


if __name__ == "__main__":
    main()
