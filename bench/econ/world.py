"""The simulated world a trace is replayed in: the GPU replica, the hosted providers, cold starts
and billing. Every figure here is a parameter of the simulation, not of the policy; the policy
learns none of them except through what the operator would read (docs/autoscaling.md, "What it
saves: the simulator", says which are measured figures and which are assumptions).

* **Replica**: gpt-oss-120b on ``gpus`` x H100 at tensor parallel size ``gpus`` (the operator
  sizes it to 2, for the full 131,072-token context), served as the vLLM simulator's capacity
  model of one engine (``gptoss_sim.capacity``) with the per-sequence work of a step shared by
  its GPUs. It is billed ``gpus`` x ``gpu_hourly``.
* **Providers**: each with list prices, a rate limit in tokens per minute for the organisation
  (above it a request gets 429 and the router tries the next provider), a log-normal time to
  first token, and a share of attempts failing with a 5xx after ``error_s`` (retried at the next
  provider with room), and a generation speed. A first token slower than the provider's
  ``hedge_quantile`` of them is hedged at the next provider with room, as the router does.
  The router tries them in its own order (``gptoss_router.routing.policy.rank_providers``): by
  the request's price, ties by expected seconds, which its EWMA of time to first token learns
  (here: the log-normal's mean). The
  limits are enforced per tick; when they reset within the router's ``spent_wait_s`` (a tick of
  a second), what every provider turned away is held for the next tick, once (``serving``).
* **Cold start**: log-normal around ``median_s``, clipped; draw ``k`` belongs to the ``k``-th
  replica launched in a replay, so every policy (and the hindsight optimum) meets the same
  cold starts in the same order.
* **Billing**: a replica's GPU time is billed from launch to removal, rounded up to
  ``billing_s`` (1: per second, 60: per minute, 3600: per started hour).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from functools import cache
from statistics import NormalDist

from gptoss_router.config import Price, PriceCap
from gptoss_router.config.tuning import Tuning
from gptoss_router.routing.policy import Demand, Limits, ProviderView, rank_providers
from gptoss_router.state.speed import SpeedEstimate
from gptoss_sim import CapacityParams

__all__ = ["ColdStart", "HostedProvider", "World", "normal_cdf"]

# the router's tuning.spent_wait_s and hedge_quantile by default
_SPENT_WAIT_S = float(Tuning.model_fields["spent_wait_s"].default)
_HEDGE_QUANTILE = float(Tuning.model_fields["hedge_quantile"].default)


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@dataclass(frozen=True)
class HostedProvider:
    name: str
    input_price: float  # dollars per million tokens
    output_price: float
    tokens_per_minute: float  # the organisation's rate limit, prompt and reply tokens
    ttft_median_s: float
    ttft_sigma: float  # of the log-normal
    error_rate: float  # share of attempts answered 5xx
    tokens_per_s: float = 500.0  # generation speed (docs/sources.md, Providers: Speeds)
    error_s: float = 0.5  # time lost to a 5xx before the retry
    reject_s: float = 0.05  # time lost to a 429

    def per_request(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of this provider's time to first token."""
        return self.ttft_median_s * math.exp(self.ttft_sigma * NormalDist().inv_cdf(q))

    def within(self, budget_s: float) -> float:
        """Share of this provider's first tokens that come within ``budget_s``."""
        if budget_s <= 0:
            return 0.0
        return normal_cdf((math.log(budget_s) - math.log(self.ttft_median_s)) / self.ttft_sigma)

    @property
    def ttft_mean_s(self) -> float:
        """The mean time to first token: what the router's EWMA of it settles around."""
        return self.ttft_median_s * math.exp(self.ttft_sigma**2 / 2)


@cache
def _router_order(
    providers: tuple[HostedProvider, ...], input_tokens: int, output_tokens: int
) -> tuple[HostedProvider, ...]:
    """``providers`` in the order the router's ``rank_providers`` tries them for a request."""
    views = [
        ProviderView(
            key=p.name,
            price=Price(input=p.input_price, output=p.output_price),
            speed=SpeedEstimate(ttft_s=p.ttft_mean_s, tokens_per_s=p.tokens_per_s),
            capabilities=frozenset(),
            ejected=False,
            spent=False,
        )
        for p in providers
    ]
    limits = Limits(
        local=True,
        hosted=True,
        providers=None,
        max_price=PriceCap(),
        spill_when=frozenset(),
        latency_target_s=20.0,  # the router's default
        max_queue_depth=4,
        max_inflight=64,
    )
    ranked = rank_providers(views, Demand(frozenset(), input_tokens, output_tokens), limits)
    by_name = {p.name: p for p in providers}
    return tuple(by_name[v.key] for v in ranked)


@dataclass(frozen=True)
class ColdStart:
    median_s: float = 180.0  # the CRD's coldStart default
    sigma: float = 0.35
    low_s: float = 60.0
    high_s: float = 900.0

    def draws(self, seed: int, count: int = 4096) -> tuple[float, ...]:
        rng = random.Random(f"cold-start/{seed}")  # noqa: S311 - a simulation, not secrets
        return tuple(
            min(self.high_s, max(self.low_s, self.median_s * math.exp(rng.gauss(0, self.sigma))))
            for _ in range(count)
        )

    @property
    def mean_s(self) -> float:
        """The mean of the (unclipped) log-normal."""
        return self.median_s * math.exp(self.sigma**2 / 2)


def _default_providers() -> tuple[HostedProvider, ...]:
    return (
        HostedProvider("fireworks", 0.15, 0.60, 400_000, 0.55, 0.55, 0.004, tokens_per_s=525.0),
        HostedProvider("groq", 0.15, 0.60, 300_000, 0.40, 0.50, 0.003, tokens_per_s=500.0),
        HostedProvider("together", 0.15, 0.60, 400_000, 0.70, 0.60, 0.005),
    )


@dataclass(frozen=True)
class World:
    gpu_hourly: float = 2.69  # per GPU: the operator's list price of an H100
    gpus: int = 2  # per replica: the operator's sizing of gpt-oss-120b on H100 80GB
    product: str = "H100-80GB"
    model: str = "gpt-oss-120b"
    providers: tuple[HostedProvider, ...] = field(default_factory=_default_providers)
    cold_start: ColdStart = field(default_factory=ColdStart)
    billing_s: float = 1.0
    tick_s: float = 10.0
    ttft_target_s: float = 2.0
    itl_target_s: float = 0.05  # 20 tokens/s per request
    queue_depth: int = 4  # the router's max_queue_depth per pod before it spills
    # with every provider spent and no replica ready, the router waits this long for the first
    # reset (its tuning.spent_wait_s); the providers' limits reset every tick here
    spent_wait_s: float = _SPENT_WAIT_S
    # a provider's first token not come by this quantile of them is hedged at the next provider
    # with room (the router's tuning.hedge_quantile; 0: never)
    hedge_quantile: float = _HEDGE_QUANTILE
    engine: CapacityParams = field(default_factory=CapacityParams)

    @property
    def replica_hourly(self) -> float:
        return self.gpus * self.gpu_hourly

    def ranked(self, input_tokens: int, output_tokens: int) -> tuple[HostedProvider, ...]:
        """Providers in the router's order: cheapest request first, then the fastest."""
        return _router_order(self.providers, input_tokens, output_tokens)

    def provider_table(self) -> dict[str, dict[str, tuple[float, float]]]:
        """The router's provider table as the operator's settings carry it."""
        return {p.name: {self.model: (p.input_price, p.output_price)} for p in self.providers}
