"""The comparison on one trace at one GPU price: every policy, the best static ones, the
hindsight optimum, and whether the cost policy meets its goals there.

Goals (docs/autoscaling.md): the cost policy within ``GOAL_GAP`` of the hindsight optimum, at
least ``GOAL_WITHIN`` of requests within the latency target, and at least ``GOAL_SAVING`` below
the best static policy wherever the optimum itself is at least ``OPTIMUM_SAVING`` below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.autoscaling.decide import Policy as QueuePolicy

from .optimum import Clairvoyant, Unforeseen, optimal_schedule
from .policies import Always, Cost, Policy, QueueDepth, cost_policy
from .run import Draws, Result, replay
from .serving import replica_for
from .traces import Trace
from .world import World

__all__ = [
    "GOAL_GAP",
    "GOAL_SAVING",
    "GOAL_WITHIN",
    "MAX_REPLICAS",
    "OPTIMUM_SAVING",
    "Comparison",
    "compare",
]

GOAL_WITHIN = 0.99  # share of requests within the latency target
GOAL_GAP = 0.10  # the cost policy's cost above the hindsight optimum's
GOAL_SAVING = 0.20  # below the best static policy ...
OPTIMUM_SAVING = 0.30  # ... wherever the optimum is this far below it
MAX_REPLICAS = 16
SCALE_DOWN_DELAY_S = 600.0  # the CRD's scaleDownDelay default
TARGET_QUEUE_DEPTH = 4


@dataclass(frozen=True)
class Comparison:
    trace: str
    world: World
    rows: tuple[Result, ...]  # statics, queue depth, cost, the optimum unforeseen, optimum
    best_static: Result  # the cheapest static policy within the target (the cheapest if none)
    cost: Result
    optimum: Result
    optimum_dp_dollars: float  # the DP's own account of the optimum
    standby: Result | None = None  # the cost policy with a burstStandby, if one was run

    def gap(self, result: Result) -> float:
        return result.total_dollars / self.optimum.total_dollars - 1.0

    def below_static(self, result: Result) -> float:
        return 1.0 - result.total_dollars / self.best_static.total_dollars

    @property
    def saving_required(self) -> bool:
        return self.below_static(self.optimum) >= OPTIMUM_SAVING

    def goals_of(self, result: Result) -> dict[str, bool]:
        return {
            "gap": self.gap(result) <= GOAL_GAP,
            "within": result.within_target >= GOAL_WITHIN,
            "saving": not self.saving_required or self.below_static(result) >= GOAL_SAVING,
        }

    @property
    def goals(self) -> dict[str, bool]:
        return self.goals_of(self.cost)

    @property
    def met(self) -> bool:
        return all(self.goals.values())


def _cheapest_static(trace: Trace, world: World, draws: Draws, *, spill: bool) -> Result:
    """Always N local: the cheapest N whose requests meet the target (the best share if none)."""
    tried: list[Result] = []
    for n in range(1, MAX_REPLICAS + 1):
        tried.append(replay(trace, world, Always(n, spill=spill), draws))
        ok = [r for r in tried if r.within_target >= GOAL_WITHIN]
        if ok and tried[-1].total_dollars > min(r.total_dollars for r in ok):
            break  # past the cheapest that meets the target: more only costs more
    ok = [r for r in tried if r.within_target >= GOAL_WITHIN]
    if ok:
        return min(ok, key=lambda r: r.total_dollars)
    return max(tried, key=lambda r: (r.within_target, -r.total_dollars))


def compare(
    trace: Trace, world: World, draws: Draws, burst_standby: str | None = None
) -> Comparison:
    """Every policy on ``trace``; with ``burst_standby`` (a duration) the cost policy also
    runs with that ``spec.autoscaling.burstStandby``, as a row of its own."""
    replica = replica_for(world, trace.input_tokens, trace.output_tokens)
    cost = cost_policy(world, MAX_REPLICAS)
    if cost.gpus != world.gpus:
        raise ValueError(f"the operator sizes {cost.gpus} GPUs per replica, the world {world.gpus}")

    def queue(min_replicas: int) -> QueuePolicy:
        return QueuePolicy(
            min_replicas=min_replicas,
            max_replicas=MAX_REPLICAS,
            target_queue_depth=TARGET_QUEUE_DEPTH,
            scale_down_delay_s=SCALE_DOWN_DELAY_S,
            max_num_seqs=replica.max_num_seqs,
        )

    policies: list[Policy] = [QueueDepth(queue(0), spill=True), Cost(cost, tick_s=world.tick_s)]
    if burst_standby is not None:
        held = cost_policy(world, MAX_REPLICAS, burst_standby)
        policies.append(Cost(held, tick_s=world.tick_s))
    hosted = replay(trace, world, Always(0, spill=True), draws)
    local = _cheapest_static(trace, world, draws, spill=False)
    local_spill = _cheapest_static(trace, world, draws, spill=True)
    dynamic = [replay(trace, world, p, draws) for p in policies]
    schedule, dp_dollars = optimal_schedule(trace, world, draws, MAX_REPLICAS)
    optimum = replay(trace, world, Clairvoyant(schedule, draws, world.billing_s), draws)
    unforeseen = replay(trace, world, Unforeseen(schedule, draws, world.billing_s), draws)
    statics = [hosted, local, local_spill]
    within = [r for r in statics if r.within_target >= GOAL_WITHIN]
    best = min(within or statics, key=lambda r: r.total_dollars)
    rows = (*statics, *dynamic, unforeseen, optimum)
    standby = dynamic[2] if burst_standby is not None else None
    return Comparison(trace.name, world, rows, best, dynamic[1], optimum, dp_dollars, standby)
