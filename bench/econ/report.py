"""The simulator's outputs: a table on stdout, JSON and a plot in bench/results/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .compare import GOAL_SAVING, GOAL_WITHIN, Comparison
from .run import Result
from .traces import Trace

__all__ = ["plot", "sweep_table", "table", "to_json"]


def _row(result: Result, best: Result) -> str:
    versus = 1.0 - result.total_dollars / best.total_dollars
    return (
        f"  {result.policy:<26}{result.total_dollars:>10.2f}{result.gpu_dollars:>10.2f}"
        f"{result.hosted_dollars:>10.2f}{result.gpu_hours:>9.1f}"
        f"{100 * result.within_target:>9.2f}%{100 * result.hosted_share:>8.1f}%"
        f"{100 * versus:>+9.1f}%"
    )


def table(comparisons: list[Comparison]) -> str:
    lines = []
    for c in comparisons:
        lines.append(
            f"{c.trace}  (GPU ${c.world.gpu_hourly:.2f}/h per replica, providers "
            f"${c.world.input_price}/${c.world.output_price} per M tokens, cold start "
            f"{c.world.cold_start_s:.0f} s; best static: {c.best_static.policy})"
        )
        lines.append(
            f"  {'policy':<26}{'total $':>10}{'GPU $':>10}{'hosted $':>10}{'GPU-h':>9}"
            f"{'in target':>10}{'hosted':>9}{'vs best':>10}"
        )
        lines += [_row(r, c.best_static) for r in c.rows]
        verdict = "met" if c.met else "NOT met"
        lines.append(
            f"  cost policy: {100 * c.saving:.1f} % below the best static at "
            f"{100 * c.cost.within_target:.2f} % within target -> goal "
            f"(>= {100 * GOAL_SAVING:.0f} %, >= {100 * GOAL_WITHIN:.0f} %) {verdict}"
        )
        lines.append("")
    return "\n".join(lines)


def sweep_table(prices: list[float], sweep: dict[str, list[Comparison]]) -> str:
    head = f"  {'GPU $/h':<10}" + "".join(f"{name:>22}" for name in sweep)
    lines = ["cost policy vs best static (saving, share in target) by GPU price", head]
    for i, price in enumerate(prices):
        cells = "".join(
            f"{100 * runs[i].saving:>+12.1f}% {100 * runs[i].cost.within_target:>7.2f}%"
            for runs in sweep.values()
        )
        lines.append(f"  {price:<10.2f}{cells}")
    return "\n".join(lines)


def _result_json(r: Result) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "total_dollars": round(r.total_dollars, 2),
        "gpu_dollars": round(r.gpu_dollars, 2),
        "hosted_dollars": round(r.hosted_dollars, 2),
        "gpu_hours": round(r.gpu_hours, 2),
        "requests": round(r.requests),
        "within_target": round(r.within_target, 5),
        "hosted_share": round(r.hosted_share, 4),
    }


def to_json(
    comparisons: list[Comparison], prices: list[float], sweep: dict[str, list[Comparison]]
) -> dict[str, Any]:
    return {
        "goal": {"saving": GOAL_SAVING, "within_target": GOAL_WITHIN},
        "traces": [
            {
                "trace": c.trace,
                "world": {k: v for k, v in vars(c.world).items() if k != "engine"},
                "best_static": c.best_static.policy,
                "saving": round(c.saving, 4),
                "met": c.met,
                "policies": [_result_json(r) for r in c.rows],
            }
            for c in comparisons
        ],
        "sweep": {
            name: [
                {
                    "gpu_hourly": p,
                    "best_static": c.best_static.policy,
                    "saving": round(c.saving, 4),
                    "within_target": round(c.cost.within_target, 5),
                }
                for p, c in zip(prices, runs, strict=True)
            ]
            for name, runs in sweep.items()
        },
    }


def plot(
    path: Path,
    comparisons: list[Comparison],
    traces: dict[str, Trace],
    prices: list[float],
    sweep: dict[str, list[Comparison]],
) -> None:
    rows = len(comparisons)
    fig, axes = plt.subplots(rows + 1, 2, figsize=(14, 3.2 * (rows + 1)), squeeze=False)
    for (left, right), c in zip(axes, comparisons, strict=False):
        trace = traces[c.trace]
        hours = [m / 60 for m in range(len(trace.requests_per_s))]
        left.fill_between(hours, trace.requests_per_s, color="0.85", label="demand (requests/s)")
        twin = left.twinx()
        for r in c.rows[3:]:
            ticks = [i * c.world.tick_s / 3600 for i in range(len(r.replicas))]
            twin.step(ticks, r.replicas, where="post", label=f"{r.policy} replicas", lw=1)
        left.set_title(f"{c.trace}: demand and replicas asked for")
        left.set_xlabel("hour")
        left.set_ylabel("requests/s")
        twin.set_ylabel("replicas")
        twin.legend(loc="upper left", fontsize=7)
        for r in c.rows:
            ticks = [i * c.world.tick_s / 3600 for i in range(len(r.dollars))]
            right.plot(ticks, r.dollars, label=f"{r.policy} ({100 * r.within_target:.1f} %)", lw=1)
        right.set_title(f"{c.trace}: cumulative dollars (share within target)")
        right.set_xlabel("hour")
        right.set_ylabel("$")
        right.legend(fontsize=7)
    ax = axes[rows][0]
    for name, runs in sweep.items():
        ax.plot(prices, [100 * c.saving for c in runs], marker="o", label=name)
    ax.axhline(100 * GOAL_SAVING, color="k", ls="--", lw=0.8, label="goal")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_title("cost policy: saving vs best static policy")
    ax.set_xlabel("GPU $ per replica-hour")
    ax.set_ylabel("% below best static")
    ax.legend(fontsize=7)
    axes[rows][1].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
