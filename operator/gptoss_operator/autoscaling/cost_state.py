"""One tick of the cost policy for one GptOssDeployment, and what it carries to the next (pure:
no clock, no I/O).

The autoscaler's loop and the economics bench (``bench/econ/policies.py``) both call
``CostState.decide`` with the demand meter's readings, so the bench measures the operator's own
sequence: the replica's capacity measured (``capacity.CapacityEstimate``), the bursts past the
providers remembered (``standby.BurstMemory``), then the decision (``governor.CostGovernor``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gptoss_operator.autoscaling.capacity import CapacityEstimate
from gptoss_operator.autoscaling.economics import CostPolicy, Demand
from gptoss_operator.autoscaling.governor import CostDecision, CostGovernor
from gptoss_operator.autoscaling.standby import BurstMemory

__all__ = ["CostState", "CostTick", "MeterReadings"]


class MeterReadings(Protocol):
    """What the cost policy reads from the demand meter (``signals.DemandMeter``)."""

    @property
    def tokens_per_s(self) -> float: ...

    @property
    def input_per_output(self) -> float: ...

    @property
    def unserved_tokens_per_s(self) -> float: ...

    @property
    def unserved_minute_tokens_per_s(self) -> float: ...

    @property
    def tick_tokens_per_s(self) -> float: ...

    @property
    def hosted_tokens_per_s(self) -> float: ...

    @property
    def hosted_tick_tokens_per_s(self) -> float: ...

    @property
    def local_tick_tokens_per_s(self) -> float: ...

    @property
    def settled(self) -> bool: ...

    @property
    def output_per_request(self) -> float: ...

    @property
    def pods_counted(self) -> int: ...

    @property
    def fresh(self) -> bool: ...

    @property
    def window_s(self) -> float: ...


@dataclass(frozen=True)
class CostTick:
    decision: CostDecision
    demand: Demand
    capacity: float  # a replica's output tokens/s, as now estimated


@dataclass
class CostState:
    capacity: CapacityEstimate = field(default_factory=CapacityEstimate)
    bursts: BurstMemory = field(default_factory=BurstMemory)
    governor: CostGovernor = field(default_factory=CostGovernor)

    def decide(
        self,
        now: float,
        meter: MeterReadings,
        policy: CostPolicy,
        *,
        current: int,
        ready: int,
        saturated: bool,
        blind: bool,
        tick_s: float,
        newest_age_s: float | None = None,
    ) -> CostTick:
        """``current`` replicas asked for, ``ready`` of them serving; ``saturated``: requests
        wait in vLLM or spill; ``blind``: a replica's or a router's metrics are missing."""
        unmeasured = blind or not meter.fresh  # the tick's figures are older ones, held
        capacity = self.capacity.observe(
            policy.capacity_prior,
            meter.local_tick_tokens_per_s,
            ready=min(ready, meter.pods_counted),  # the replicas whose tokens were counted
            saturated=saturated,
            blind=unmeasured,
        )
        self.bursts.observe(
            now,
            demand=meter.tokens_per_s,
            hosted=meter.hosted_tokens_per_s,
            hosted_tick=meter.hosted_tick_tokens_per_s,
            unserved=meter.unserved_tokens_per_s,
            tick_s=tick_s,
            blind=unmeasured,
            output_per_request=meter.output_per_request,
        )
        standby = self.bursts.standby(
            now,
            window_s=policy.burst_standby_s,
            capacity=capacity,
            max_replicas=policy.max_replicas,
        )
        demand = Demand(
            meter.tokens_per_s,
            meter.input_per_output,
            unserved_tokens_per_s=meter.unserved_minute_tokens_per_s,
            unserved_tick_tokens_per_s=meter.unserved_tokens_per_s,
            tick_tokens_per_s=meter.tick_tokens_per_s,
            requests_counted=meter.tokens_per_s * meter.window_s / meter.output_per_request,
        )
        decision = self.governor.decide(
            now,
            demand,
            current=current,
            capacity=capacity,
            policy=policy,
            ready=ready,
            newest_age_s=newest_age_s,
            standby=standby,
            blind=blind,
            measuring=not meter.settled,
        )
        return CostTick(decision, demand, capacity)
