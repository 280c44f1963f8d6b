"""The comparison on one trace: every policy, the best static ones, and the cost policy's saving."""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.autoscaling.decide import Policy as QueuePolicy

from .policies import Always, Cost, Policy, QueueDepth, cost_policy
from .run import Result, replay
from .serving import World, replica_for
from .traces import Trace

__all__ = ["GOAL_SAVING", "GOAL_WITHIN", "MAX_REPLICAS", "Comparison", "compare"]

GOAL_WITHIN = 0.99  # share of requests within the latency target
GOAL_SAVING = 0.30  # the cost policy against the best static policy
MAX_REPLICAS = 24
SCALE_DOWN_DELAY_S = 600.0  # the CRD's scaleDownDelay default
TARGET_QUEUE_DEPTH = 4


@dataclass(frozen=True)
class Comparison:
    trace: str
    world: World
    rows: tuple[Result, ...]  # hosted, best local, best local + spill, queue x2, cost
    best_static: Result  # cheapest of always hosted and always N local within the target
    cost: Result

    @property
    def saving(self) -> float:
        return 1.0 - self.cost.total_dollars / self.best_static.total_dollars

    @property
    def met(self) -> bool:
        return self.saving >= GOAL_SAVING and self.cost.within_target >= GOAL_WITHIN


def _cheapest_static(trace: Trace, world: World, *, spill: bool) -> Result:
    """Always N local: the cheapest N whose requests meet the target (the largest tried if none)."""
    tried: list[Result] = []
    for n in range(1, MAX_REPLICAS + 1):
        tried.append(replay(trace, world, Always(n, spill=spill)))
        if not spill and tried[-1].within_target >= GOAL_WITHIN:
            return tried[-1]
        if spill and len(tried) > 1 and tried[-1].total_dollars > tried[-2].total_dollars:
            break  # with spill the cost falls, then rises with every replica past the best
    ok = [r for r in tried if r.within_target >= GOAL_WITHIN]
    return min(ok or tried[-1:], key=lambda r: r.total_dollars)


def compare(trace: Trace, world: World) -> Comparison:
    replica = replica_for(world, trace.input_tokens, trace.output_tokens)

    def queue(min_replicas: int) -> QueuePolicy:
        return QueuePolicy(
            min_replicas=min_replicas,
            max_replicas=MAX_REPLICAS,
            target_queue_depth=TARGET_QUEUE_DEPTH,
            scale_down_delay_s=SCALE_DOWN_DELAY_S,
            max_num_seqs=replica.max_num_seqs,
        )

    prices = (world.gpu_hourly, world.input_price, world.output_price)
    policies: list[Policy] = [
        QueueDepth(queue(1), spill=False),  # without providers a replica must stay up
        QueueDepth(queue(0), spill=True),
        Cost(cost_policy(*prices, world.cold_start_s, MAX_REPLICAS)),
    ]
    hosted = replay(trace, world, Always(0, spill=True))
    local = _cheapest_static(trace, world, spill=False)
    local_spill = _cheapest_static(trace, world, spill=True)
    dynamic = [replay(trace, world, p) for p in policies]
    statics = [r for r in (hosted, local) if r.within_target >= GOAL_WITHIN]
    best = min(statics, key=lambda r: r.total_dollars)
    return Comparison(trace.name, world, (hosted, local, local_spill, *dynamic), best, dynamic[-1])
