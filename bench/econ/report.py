"""The simulator's outputs: a table on stdout, JSON and a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .compare import GOAL_GAP, GOAL_SAVING, GOAL_WITHIN, OPTIMUM_SAVING, Comparison
from .run import Result

__all__ = ["goals_table", "plot", "table", "to_json"]


def _row(c: Comparison, r: Result) -> str:
    return (
        f"  {r.policy:<24}{r.total_dollars:>9.2f}{r.gpu_dollars:>9.2f}{r.hosted_dollars:>9.2f}"
        f"{r.gpu_hours:>8.1f}{100 * r.within_target:>9.2f}%{100 * r.hosted_share:>8.1f}%"
        f"{100 * c.gap(r):>+9.1f}%{100 * c.below_static(r):>+9.1f}%"
    )


def table(comparisons: list[Comparison]) -> str:
    lines = []
    for c in comparisons:
        w = c.world
        lines.append(
            f"{c.trace} at ${w.gpu_hourly:.2f}/GPU-h ({w.gpus} x {w.product} per replica, "
            f"billed per {w.billing_s:g} s; cold start median {w.cold_start.median_s:.0f} s; "
            f"best static: {c.best_static.policy}; optimum by the DP ${c.optimum_dp_dollars:.2f})"
        )
        lines.append(
            f"  {'policy':<24}{'total $':>9}{'GPU $':>9}{'hosted $':>9}{'GPU-h':>8}"
            f"{'in target':>10}{'hosted':>9}{'vs opt':>10}{'vs static':>10}"
        )
        lines += [_row(c, r) for r in c.rows]
        lines.append("")
    return "\n".join(lines)


def goals_table(comparisons: list[Comparison]) -> str:
    head = (
        f"cost policy goals: within {100 * GOAL_GAP:.0f} % of the hindsight optimum; "
        f">= {100 * GOAL_WITHIN:.0f} % within target; >= {100 * GOAL_SAVING:.0f} % below the best"
        f" static where the optimum is >= {100 * OPTIMUM_SAVING:.0f} % below it"
    )
    lines = [
        head,
        f"  {'trace':<12}{'$/GPU-h':>8}{'cost $':>9}{'opt $':>9}{'gap':>8}{'in target':>11}"
        f"{'vs static':>11}{'opt vs st':>11}  goals",
    ]
    for c in comparisons:
        verdict = ", ".join(f"{k} {'met' if ok else 'NOT met'}" for k, ok in c.goals.items())
        lines.append(
            f"  {c.trace:<12}{c.world.gpu_hourly:>8.2f}{c.cost.total_dollars:>9.2f}"
            f"{c.optimum.total_dollars:>9.2f}{100 * c.gap(c.cost):>+7.1f}%"
            f"{100 * c.cost.within_target:>10.2f}%{100 * c.below_static(c.cost):>+10.1f}%"
            f"{100 * c.below_static(c.optimum):>+10.1f}%  {verdict}"
        )
    met = sum(c.met for c in comparisons)
    lines.append(f"  all goals met on {met} of {len(comparisons)} (trace, price) pairs")
    held = [(c, c.standby) for c in comparisons if c.standby is not None]
    if held:
        lines.append(f"  with {held[0][1].policy}:")
    for c, r in held:
        verdict = ", ".join(f"{k} {'met' if ok else 'NOT met'}" for k, ok in c.goals_of(r).items())
        lines.append(
            f"  {c.trace:<12}{c.world.gpu_hourly:>8.2f}{r.total_dollars:>9.2f}"
            f"{c.optimum.total_dollars:>9.2f}{100 * c.gap(r):>+7.1f}%"
            f"{100 * r.within_target:>10.2f}%{100 * c.below_static(r):>+10.1f}%"
            f"{100 * c.below_static(c.optimum):>+10.1f}%  {verdict}"
        )
    if held:
        met = sum(all(c.goals_of(r).values()) for c, r in held)
        lines.append(f"  all goals met on {met} of {len(held)} (trace, price) pairs")
    return "\n".join(lines)


def _result_json(c: Comparison, r: Result) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "total_dollars": round(r.total_dollars, 2),
        "gpu_dollars": round(r.gpu_dollars, 2),
        "hosted_dollars": round(r.hosted_dollars, 2),
        "gpu_hours": round(r.gpu_hours, 2),
        "requests": round(r.requests),
        "failed": round(r.failed),
        "within_target": round(r.within_target, 5),
        "hosted_share": round(r.hosted_share, 4),
        "gap_to_optimum": round(c.gap(r), 4),
        "below_best_static": round(c.below_static(r), 4),
    }


def to_json(comparisons: list[Comparison]) -> dict[str, Any]:
    return {
        "goal": {
            "gap": GOAL_GAP,
            "within_target": GOAL_WITHIN,
            "saving": GOAL_SAVING,
            "where_optimum_saves": OPTIMUM_SAVING,
        },
        "runs": [
            {
                "trace": c.trace,
                "gpu_hourly": c.world.gpu_hourly,
                "gpus_per_replica": c.world.gpus,
                "billing_s": c.world.billing_s,
                "best_static": c.best_static.policy,
                "optimum_dp_dollars": round(c.optimum_dp_dollars, 2),
                "goals": c.goals,
                "policies": [_result_json(c, r) for r in c.rows],
            }
            for c in comparisons
        ],
    }


def plot(path: Path, comparisons: list[Comparison]) -> None:
    """Per trace (at the first price it was run at): demand with replicas over time, and each
    policy's cumulative dollars."""
    shown: dict[str, Comparison] = {}
    for c in comparisons:
        shown.setdefault(c.trace, c)
    rows = len(shown)
    fig, axes = plt.subplots(rows, 2, figsize=(15, 3.4 * rows), squeeze=False)
    for (left, right), c in zip(axes, shown.values(), strict=True):
        cost, optimum = c.cost, c.optimum
        hours = [i * c.world.tick_s / 3600 for i in range(len(cost.demand))]
        left.fill_between(hours, cost.demand, color="0.85", label="demand (output tok/s)")
        left.set_ylabel("output tokens/s")
        twin = left.twinx()
        lines = [(cost, "-"), (optimum, "--"), (c.rows[3], ":")]
        if c.standby is not None:
            lines.append((c.standby, "-."))
        for r, style in lines:
            twin.step(hours, r.replicas, where="post", ls=style, lw=1, label=f"{r.policy}")
        twin.set_ylabel("replicas asked for")
        twin.legend(loc="upper left", fontsize=7)
        left.set_title(
            f"{c.trace} at ${c.world.gpu_hourly:.2f}/GPU-h: demand and replicas", fontsize=9
        )
        left.set_xlabel("hour")
        for r in c.rows:
            right.plot(
                hours[: len(r.dollars)],
                r.dollars,
                lw=1.2 if r in (cost, optimum) else 0.8,
                label=f"{r.policy} ({100 * r.within_target:.1f} % in target)",
            )
        right.set_title(f"{c.trace}: cumulative dollars per policy", fontsize=9)
        right.set_xlabel("hour")
        right.set_ylabel("$")
        right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
