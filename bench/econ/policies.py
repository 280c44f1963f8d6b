"""The policies the simulator compares. The queue-depth and cost policies are the operator's
own deciding code (``gptoss_operator.autoscaling.decide`` and
``gptoss_operator.autoscaling.economics``), fed with what the autoscaler would read from vLLM and
the router at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gptoss_operator.autoscaling.decide import Policy as QueuePolicy
from gptoss_operator.autoscaling.decide import Signals, Stabilizer, recommend
from gptoss_operator.autoscaling.economics import (
    DEFAULT_REPLICA_TOKENS_PER_S,
    CostGovernor,
    CostPolicy,
    Demand,
    Prices,
    updated_capacity,
)
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue, RouterSpill

__all__ = ["Always", "Cost", "Observation", "Policy", "QueueDepth", "cost_policy"]


@dataclass(frozen=True)
class Observation:
    """What the autoscaler reads at one tick."""

    now: float
    desired: int  # spec.replicas
    ready: int
    waiting: int
    running: int
    spilled_inflight: int
    generation_tokens: float  # counters, since the start
    prompt_tokens: float
    finished: float
    spilled_total: int
    hosted_input_tokens: float
    hosted_output_tokens: float


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def spill(self) -> bool: ...

    def start(self) -> int: ...

    def decide(self, seen: Observation) -> int: ...


@dataclass
class Always:
    """A fixed count of replicas; ``replicas=0`` with ``spill`` is all hosted."""

    replicas: int
    spill: bool = False

    @property
    def name(self) -> str:
        if self.replicas == 0:
            return "always hosted"
        return f"always {self.replicas} local" + (" + spill" if self.spill else "")

    def start(self) -> int:
        return self.replicas

    def decide(self, seen: Observation) -> int:
        return self.replicas


@dataclass
class QueueDepth:
    policy: QueuePolicy
    spill: bool
    window: Stabilizer = field(default_factory=Stabilizer)

    @property
    def name(self) -> str:
        return "queue depth" + (" + spill" if self.spill else ", no spill")

    def start(self) -> int:
        self.window = Stabilizer([(0.0, self.policy.min_replicas)])
        return self.policy.min_replicas

    def decide(self, seen: Observation) -> int:
        signals = Signals(
            ready=seen.ready,
            waiting=seen.waiting,
            running=seen.running,
            spilled=seen.spilled_inflight if self.spill else 0,
        )
        wish = recommend(signals, self.policy)
        return self.window.decide(seen.now, wish.replicas, current=seen.desired, policy=self.policy)


@dataclass
class Cost:
    policy: CostPolicy
    meter: DemandMeter = field(default_factory=DemandMeter)
    governor: CostGovernor = field(default_factory=CostGovernor)
    capacity: float = DEFAULT_REPLICA_TOKENS_PER_S
    decisions: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "cost"

    @property
    def spill(self) -> bool:
        return self.policy.may_spill

    def start(self) -> int:
        return self.policy.min_replicas

    def decide(self, seen: Observation) -> int:
        pod = PodQueue(
            seen.waiting, seen.running, seen.generation_tokens, seen.prompt_tokens, seen.finished
        )
        router = RouterSpill(
            seen.spilled_inflight,
            seen.spilled_total,
            hosted_requests=seen.spilled_total,
            hosted_input_tokens=seen.hosted_input_tokens,
            hosted_output_tokens=seen.hosted_output_tokens,
        )
        self.meter.observe(seen.now, {"pool": pod}, router)
        if seen.ready:
            saturated = seen.waiting > 0 or seen.spilled_inflight > 0
            per_replica = self.meter.local_tokens_per_s / seen.ready
            self.capacity = updated_capacity(self.capacity, per_replica, saturated=saturated)
        demand = Demand(self.meter.tokens_per_s, self.meter.input_per_output)
        wish = self.governor.decide(
            seen.now, demand, current=seen.desired, capacity=self.capacity, policy=self.policy
        )
        self.decisions.append((seen.now, wish.local_dollars_per_hour, wish.hosted_dollars_per_hour))
        return wish.replicas


def cost_policy(
    world_gpu_hourly: float,
    input_price: float,
    output_price: float,
    cold_start_s: float,
    max_replicas: int,
) -> CostPolicy:
    return CostPolicy(
        min_replicas=0,
        max_replicas=max_replicas,
        cold_start_s=cold_start_s,
        prices=Prices(world_gpu_hourly, input_price, output_price),
        may_spill=True,
    )
