"""What an operator restart costs the cost policy: the same trace replayed with the operator
restarted every few hours, once forgetting what the policy learned (each process starting from
the priors, as before ``status.autoscaling.learned``) and once reading it back from status."""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.autoscaling.learned import Subject

from .compare import MAX_REPLICAS, Comparison
from .policies import Restarted, cost_policy
from .run import Draws, Result, replay
from .traces import Trace

__all__ = ["RestartRow", "restart_rows", "restarts_table"]


@dataclass(frozen=True)
class RestartRow:
    trace: str
    gpu_hourly: float
    never: Result  # the cost policy of an operator never restarted
    forgets: Result
    remembers: Result


def restart_rows(
    trace: Trace, comparison: Comparison, draws: Draws, every_s: float, burst_standby: str | None
) -> list[RestartRow]:
    world = comparison.world
    rows = []
    for standby, never in ((None, comparison.cost), (burst_standby, comparison.standby)):
        if never is None:
            continue
        policy = cost_policy(world, MAX_REPLICAS, standby)
        subject = Subject.of(world.model, policy)
        forgets, remembers = (
            replay(
                trace,
                world,
                Restarted(
                    policy, tick_s=world.tick_s, every_s=every_s, remembers=kept, subject=subject
                ),
                draws,
            )
            for kept in (False, True)
        )
        rows.append(RestartRow(trace.name, world.gpu_hourly, never, forgets, remembers))
    return rows


def restarts_table(rows: list[RestartRow], every_s: float) -> str:
    lines = [
        f"operator restarted every {every_s / 3600:g} h: what the cost policy learned forgotten "
        "at each restart, or read back from status.autoscaling.learned",
        f"  {'trace':<12}{'$/GPU-h':>8}  {'policy':<24}{'never: $':>10}{'in target':>10}"
        f"{'forgets: $':>12}{'in target':>10}{'remembers: $':>14}{'in target':>10}",
    ]
    for r in rows:
        lines.append(
            f"  {r.trace:<12}{r.gpu_hourly:>8.2f}  {r.never.policy:<24}"
            f"{r.never.total_dollars:>10.2f}{100 * r.never.within_target:>9.2f}%"
            f"{r.forgets.total_dollars:>12.2f}{100 * r.forgets.within_target:>9.2f}%"
            f"{r.remembers.total_dollars:>14.2f}{100 * r.remembers.within_target:>9.2f}%"
        )
    return "\n".join(lines)
