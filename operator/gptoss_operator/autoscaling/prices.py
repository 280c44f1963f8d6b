"""What a GPU-hour and a hosted token cost a GptOssDeployment (pure).

**GPU**, dollars per GPU-hour, the first that is set of:

1. the CR's ``spec.autoscaling.gpuHourlyPrice``;
2. the operator's ``gpu_hourly_prices`` for ``spec.gpu.product`` (the chart's
   ``operator.gpuHourlyPrices``);
3. an on-demand list price: H100 SXM $2.69 and A100 SXM 80GB $1.39 (RunPod), MI300X $2.59
   (DigitalOcean), L4 $0.44 (RunPod) (docs/sources.md, GPU prices).

With none of them (a product without a list price, H200 say, that neither the CR nor the
operator prices) the Cost policy cannot weigh a replica against the providers, and the
autoscaler scales nothing rather than buy GPUs at no known price; ``missing_gpu_price`` says
why, naming where a price goes, for ``status.autoscaling`` (reason ``NO_GPU_PRICE``). The API
server cannot tell this case: the operator's prices are not in the CR.

**Hosted**, dollars per million input and output tokens, the first that is set of:

1. the CR's ``spec.autoscaling.hostedPricePerMillionTokens`` (either side alone overrides that
   side of what follows);
2. the router's provider table (``provider_prices``, which the chart mirrors from
   ``router.config.providers``): of the providers that serve the model, are allowed by
   ``spec.spillover.providers`` and stay within ``spec.spillover.maxPricePerMillionTokens``, the
   one whose reply costs least at the demand's ratio of input to output tokens. That is the one
   the router tries first for an overflow request that meets its latency target
   (``gptoss_router.routing.policy.rank_providers``). When the table is set but no provider
   qualifies, there is nothing to spill to: the replicas must carry all the demand;
3. the model's list price at Groq, Fireworks and Together: gpt-oss-120b $0.15 / $0.60, gpt-oss-20b
   $0.075 / $0.30 (docs/sources.md, Providers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_GPU_HOURLY_PRICE",
    "DEFAULT_HOSTED_PRICE",
    "LIST_PRICE",
    "NO_GPU_PRICE",
    "HostedQuote",
    "admissible_quotes",
    "cheapest",
    "gpu_hourly_price",
    "missing_gpu_price",
]

DEFAULT_GPU_HOURLY_PRICE = {"H100-80GB": 2.69, "A100-80GB": 1.39, "MI300X": 2.59, "L4": 0.44}
DEFAULT_HOSTED_PRICE = {"gpt-oss-120b": (0.15, 0.60), "gpt-oss-20b": (0.075, 0.30)}
LIST_PRICE = "list price"
NO_GPU_PRICE = "NoGPUPrice"  # status.autoscaling.reason while the Cost policy has no GPU price


@dataclass(frozen=True)
class HostedQuote:
    """One provider's price for one model, dollars per million tokens."""

    provider: str
    input_per_million: float
    output_per_million: float

    def per_output_token(self, input_per_output: float) -> float:
        return (self.output_per_million + input_per_output * self.input_per_million) / 1e6


def gpu_hourly_price(
    product: str, *, from_cr: float | None, from_operator: Mapping[str, float]
) -> float | None:
    """Dollars per GPU-hour of ``product`` (see the module docstring for the order); None
    when nothing gives one (a product without a list price)."""
    if from_cr is not None:
        return from_cr
    if product in from_operator:
        return from_operator[product]
    return DEFAULT_GPU_HOURLY_PRICE.get(product)


def missing_gpu_price(
    product: str, *, from_cr: float | None, from_operator: Mapping[str, float]
) -> str | None:
    """Why the Cost policy has no price for a GPU-hour of ``product``, naming the CR's field and
    the chart's value that would give one; None when ``gpu_hourly_price`` finds one."""
    if gpu_hourly_price(product, from_cr=from_cr, from_operator=from_operator) is not None:
        return None
    listed = ", ".join(DEFAULT_GPU_HOURLY_PRICE)
    return (
        f"the Cost policy needs a price per GPU-hour of {product} and has none, so the "
        f"autoscaler scales nothing: set spec.autoscaling.gpuHourlyPrice, or {product} in "
        "the chart's operator.gpuHourlyPrices (the operator's GPTOSS_OPERATOR_GPU_HOURLY_PRICES); "
        f"gptoss has list prices for {listed} only"
    )


def admissible_quotes(
    model: str,
    table: Mapping[str, Mapping[str, tuple[float, float]]],
    *,
    allowed: Iterable[str] | None,
    cap_input: float | None,
    cap_output: float | None,
) -> tuple[HostedQuote, ...]:
    """The providers of ``table`` (provider -> model -> (input, output) $ per million) that may
    take ``model``'s overflow: serving it, allowed, and within the cap on each side."""
    names = None if allowed is None else set(allowed)
    quotes = []
    for provider, models in sorted(table.items()):
        if model not in models or (names is not None and provider not in names):
            continue
        given_in, given_out = models[model]
        if cap_input is not None and given_in > cap_input:
            continue
        if cap_output is not None and given_out > cap_output:
            continue
        quotes.append(HostedQuote(provider, given_in, given_out))
    return tuple(quotes)


def cheapest(quotes: Iterable[HostedQuote], input_per_output: float) -> HostedQuote | None:
    """The quote whose output token (with its share of input tokens) costs least; by name on a
    tie, so the choice is stable."""
    ranked = sorted(quotes, key=lambda q: (q.per_output_token(input_per_output), q.provider))
    return ranked[0] if ranked else None
