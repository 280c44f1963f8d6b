"""What a model's demand costs served by local replicas or by hosted providers, and how many
replicas make it cheapest (pure: no clock, no I/O).

Units: demand and capacity are output tokens per second (input tokens ride along at the measured
ratio of input to output tokens); a GPU costs dollars per hour; a provider charges dollars per
million input and output tokens. A replica carries at most its ``capacity``, the output tokens
per second it serves within the latency target; demand beyond what the replicas carry spills to
the providers (the router's ``Saturated`` spill), which are assumed to meet the target.

One replica pays for itself when the demand it absorbs would cost more hosted than its GPUs
cost: the break-even is ``gpu $/h / (3600 x hosted $ per output token)`` tokens per second. The
cheapest plan fills whole replicas and adds a last, partly used one only if its share of the
demand is above that break-even.

Switching costs a cold start: a new replica bills GPU time for ``cold_start_s`` (weights to load,
docs/sources.md, Cold starts) before it serves anything, and one given back must be started
again if demand returns. So the ``CostGovernor`` moves to the cheapest plan only once the current
plan has overspent, against it, what a wrong move would waste (the ski-rental rule): to remove
replicas, their cold starts; to add them, twice that (the cold start, then as long again idle
before the rule lets an unneeded replica go). A short burst is served hosted, a sustained rise
buys replicas, and demand wandering around the break-even point never builds up enough
evidence to flip the plan.

Defaults, each overridable per GptOssDeployment (``spec.autoscaling``):

* GPU price per GPU-hour, on-demand list prices: H100 SXM $2.69 and A100 SXM 80GB $1.39
  (runpod.io/pricing, Community Cloud, as transcribed 2026-09-25 in tgarg01/silybench-data
  ``derived/csv/gpu_prices.csv``), MI300X $2.59 (DigitalOcean list price, the
  tokenwatt/gpu-cloud-prices data set, 2026-10-07), L4 $0.44 (RunPod, deploybase.ai).
* Hosted price per million tokens: gpt-oss-120b $0.15 in / $0.60 out (Groq, Fireworks and
  Together list the same), gpt-oss-20b $0.075 / $0.30 (Groq) (docs/sources.md, Providers).
* Replica capacity before any is measured: 1,000 output tokens/s. The vLLM simulator's capacity
  model of gpt-oss-120b on one H100 (``gptoss_sim.capacity``: 5.5 ms + 0.8 ms per running
  sequence per step, which at concurrency 256 is near the 1,256 tokens/s per GPU Dynamo measured,
  docs/sources.md, vLLM recipe) serves about 1,100 tokens/s while a step stays under 50 ms
  (20 tokens/s per request); rounded down. Replaced by the measured rate of saturated replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_GPU_HOURLY_PRICE",
    "DEFAULT_HOSTED_PRICE",
    "DEFAULT_REPLICA_TOKENS_PER_S",
    "CostDecision",
    "CostGovernor",
    "CostPolicy",
    "Demand",
    "Prices",
    "break_even_tokens_per_s",
    "cheapest_replicas",
    "hosted_dollars_per_hour",
    "plan_dollars_per_hour",
    "updated_capacity",
]

DEFAULT_GPU_HOURLY_PRICE = {"H100-80GB": 2.69, "A100-80GB": 1.39, "MI300X": 2.59, "L4": 0.44}
DEFAULT_HOSTED_PRICE = {"gpt-oss-120b": (0.15, 0.60), "gpt-oss-20b": (0.075, 0.30)}
DEFAULT_REPLICA_TOKENS_PER_S = 1000.0
_CAPACITY_WEIGHT = 0.2  # how far one saturated observation moves the capacity estimate


@dataclass(frozen=True)
class Prices:
    replica_hourly: float  # dollars per replica-hour: GPU price x GPUs per replica
    input_per_million: float  # hosted dollars per million input tokens
    output_per_million: float  # hosted dollars per million output tokens

    def per_output_token(self, input_per_output: float) -> float:
        """Hosted dollars per output token, with its share of input tokens."""
        return (self.output_per_million + input_per_output * self.input_per_million) / 1e6


@dataclass(frozen=True)
class Demand:
    tokens_per_s: float  # output tokens per second, local and spilled together
    input_per_output: float  # input tokens per output token


def hosted_dollars_per_hour(tokens_per_s: float, demand: Demand, prices: Prices) -> float:
    """What ``tokens_per_s`` of output (with their input) costs per hour at the providers."""
    return 3600.0 * max(tokens_per_s, 0.0) * prices.per_output_token(demand.input_per_output)


def break_even_tokens_per_s(demand: Demand, prices: Prices) -> float:
    """Output tokens/s at which one replica costs what the same demand costs hosted."""
    per_token = prices.per_output_token(demand.input_per_output)
    return math.inf if per_token <= 0 else prices.replica_hourly / (3600.0 * per_token)


def plan_dollars_per_hour(replicas: int, demand: Demand, capacity: float, prices: Prices) -> float:
    """GPUs of ``replicas`` plus the hosted cost of what they cannot carry."""
    overflow = demand.tokens_per_s - replicas * capacity
    return replicas * prices.replica_hourly + hosted_dollars_per_hour(overflow, demand, prices)


def cheapest_replicas(demand: Demand, capacity: float, prices: Prices, lo: int, hi: int) -> int:
    """The replicas in ``[lo, hi]`` whose plan costs least (the fewer on a tie)."""
    counts = range(lo, max(lo, hi) + 1)
    return min(counts, key=lambda n: (plan_dollars_per_hour(n, demand, capacity, prices), n))


def updated_capacity(estimate: float, observed: float, *, saturated: bool) -> float:
    """The per-replica capacity after one observation of output tokens/s per ready replica.

    A saturated replica (requests waiting, or the router spilling) serves exactly its capacity,
    so the estimate moves towards what it served; an unsaturated one proves only a lower bound.
    """
    if saturated and observed > 0:
        return estimate + _CAPACITY_WEIGHT * (observed - estimate)
    return max(estimate, observed)


@dataclass(frozen=True)
class CostPolicy:
    min_replicas: int
    max_replicas: int
    cold_start_s: float
    prices: Prices
    may_spill: bool  # providers may take the overflow; if not, replicas must carry it all


@dataclass(frozen=True)
class CostDecision:
    replicas: int
    reason: str  # CamelCase, for Events and status
    message: str
    local_dollars_per_hour: float  # the chosen plan: GPUs plus hosted overflow
    hosted_dollars_per_hour: float  # the same demand all hosted


@dataclass
class CostGovernor:
    """Hysteresis of the cost policy for one GptOssDeployment (see the module docstring)."""

    overspent: float = 0.0  # dollars the current plan cost more than the cheapest, so far
    direction: int = 0  # +1 while more replicas would be cheaper, -1 while fewer, 0 at the best
    last: float | None = None

    def decide(
        self, now: float, demand: Demand, *, current: int, capacity: float, policy: CostPolicy
    ) -> CostDecision:
        p = policy
        needed = math.ceil(demand.tokens_per_s / capacity) if capacity > 0 else p.max_replicas
        lo = p.min_replicas if p.may_spill else max(p.min_replicas, needed)
        lo = min(lo, p.max_replicas)
        best = cheapest_replicas(demand, capacity, p.prices, lo, p.max_replicas)
        now_cost = plan_dollars_per_hour(current, demand, capacity, p.prices)
        best_cost = plan_dollars_per_hour(best, demand, capacity, p.prices)
        hosted = hosted_dollars_per_hour(demand.tokens_per_s, demand, p.prices)
        elapsed = 0.0 if self.last is None else max(0.0, now - self.last)
        self.last = now
        direction = (best > current) - (best < current)
        if direction != self.direction:  # the evidence for a move starts afresh
            self.overspent, self.direction = 0.0, direction
        self.overspent += max(0.0, now_cost - best_cost) * elapsed / 3600.0
        cold_starts = abs(best - current) * (2 if best > current else 1)
        switch = cold_starts * p.prices.replica_hourly * p.cold_start_s / 3600.0
        detail = (
            f"demand {demand.tokens_per_s:.0f} output tokens/s ({demand.input_per_output:.1f} "
            f"input per output), {capacity:.0f} per replica, break-even "
            f"{break_even_tokens_per_s(demand, p.prices):.0f} per replica; "
            f"{current} replicas ${now_cost:.2f}/h, {best} replicas ${best_cost:.2f}/h, "
            f"all hosted ${hosted:.2f}/h"
        )
        if current < lo:  # below minReplicas, or too few to carry the demand without spill
            reason, why = ("LatencyBound", "; no spill allowed") if not p.may_spill else ("", "")
            return CostDecision(best, reason or "BelowMinReplicas", detail + why, best_cost, hosted)
        if best == current:
            return CostDecision(current, "Cheapest", detail, now_cost, hosted)
        if self.overspent < switch:
            progress = f"; overspent ${self.overspent:.3f} of ${switch:.3f} cold-start cost"
            return CostDecision(current, "WithinColdStartCost", detail + progress, now_cost, hosted)
        self.overspent, self.direction = 0.0, 0
        reason = "LocalCheaper" if best > current else "HostedCheaper"
        return CostDecision(best, reason, detail, best_cost, hosted)
