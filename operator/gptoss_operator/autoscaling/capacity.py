"""A replica's capacity as the cost policy estimates it: output tokens per second one replica
serves within the latency target, from the prior until measured, then from what saturated
replicas serve (pure: no clock, no I/O).

A saturated replica (requests waiting in vLLM, or the router spilling past it) serves exactly
its capacity, so a saturated tick measures it; an unsaturated one proves only a lower bound.
The prior (``capacity_priors``) is a published figure for another workload (ShareGPT's short
prompts, a given vLLM version), so it can be off by a factor: the first ``FIRST_SAMPLES``
saturated ticks replace it with their running mean rather than nudge it, and later ones move
the estimate by ``WEIGHT`` each, so one odd tick cannot swing it. A blind tick (a replica's
metrics missing makes it look idle) and a tick with no ready replica teach nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIRST_SAMPLES", "WEIGHT", "CapacityEstimate", "updated_capacity"]

WEIGHT = 0.2  # how far one saturated observation moves an estimate already measured
FIRST_SAMPLES = 5  # saturated ticks averaged to replace the prior (50 s at a 10 s tick)


def updated_capacity(
    estimate: float, observed: float, *, saturated: bool, weight: float = WEIGHT
) -> float:
    """The capacity after one observation of output tokens/s per ready replica (or, for the
    providers, what they took): pulled by ``weight`` towards a saturated observation, raised
    by an unsaturated one that serves more."""
    if saturated and observed > 0:
        return estimate + weight * (observed - estimate)
    return max(estimate, observed)


@dataclass
class CapacityEstimate:
    """Output tokens/s per replica: ``None`` until measured (the prior stands in)."""

    value: float | None = None
    samples: int = 0  # saturated ticks measured so far

    def observe(
        self, prior: float, served: float, *, ready: int, saturated: bool, blind: bool
    ) -> float:
        """The estimate after a tick in which ``ready`` replicas served ``served`` output
        tokens/s together."""
        estimate = prior if self.value is None else self.value
        if not ready or blind:
            return estimate
        observed = served / ready
        weight = WEIGHT
        if saturated and observed > 0:
            self.samples += 1
            weight = max(WEIGHT, 1.0 / self.samples) if self.samples <= FIRST_SAMPLES else WEIGHT
        self.value = updated_capacity(estimate, observed, saturated=saturated, weight=weight)
        return self.value
