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
  provider with room). The router tries them cheapest first (``rank_providers``).
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

from gptoss_sim import CapacityParams

__all__ = ["ColdStart", "HostedProvider", "World", "normal_cdf"]


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
    error_s: float = 0.5  # time lost to a 5xx before the retry
    reject_s: float = 0.05  # time lost to a 429

    def per_request(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6

    def within(self, budget_s: float) -> float:
        """Share of this provider's first tokens that come within ``budget_s``."""
        if budget_s <= 0:
            return 0.0
        return normal_cdf((math.log(budget_s) - math.log(self.ttft_median_s)) / self.ttft_sigma)


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
        HostedProvider("fireworks", 0.15, 0.60, 400_000, 0.55, 0.55, 0.004),
        HostedProvider("groq", 0.15, 0.60, 300_000, 0.40, 0.50, 0.003),
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
    engine: CapacityParams = field(default_factory=CapacityParams)

    @property
    def replica_hourly(self) -> float:
        return self.gpus * self.gpu_hourly

    def ranked(self, input_tokens: int, output_tokens: int) -> tuple[HostedProvider, ...]:
        """Providers in the router's order: cheapest request first, then by name."""
        return tuple(
            sorted(
                self.providers,
                key=lambda p: (p.per_request(input_tokens, output_tokens), p.name),
            )
        )

    def provider_table(self) -> dict[str, dict[str, tuple[float, float]]]:
        """The router's provider table as the operator's settings carry it."""
        return {p.name: {self.model: (p.input_price, p.output_price)} for p in self.providers}
