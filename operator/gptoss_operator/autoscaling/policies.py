"""The autoscaling policy of a GptOssDeployment's spec, as the deciders take it (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.capacity_priors import capacity_prior
from gptoss_operator.autoscaling.decide import Policy, parse_duration
from gptoss_operator.autoscaling.economics import CostPolicy, Prices
from gptoss_operator.autoscaling.prices import (
    DEFAULT_HOSTED_PRICE,
    LIST_PRICE,
    HostedQuote,
    admissible_quotes,
    gpu_hourly_price,
)
from gptoss_operator.errors import GptOssError
from gptoss_operator.placement.serving_args import max_num_seqs
from gptoss_operator.placement.sizing import size_spec

__all__ = ["cost_policy", "queue_policy"]

PriceTable = Mapping[str, Mapping[str, tuple[float, float]]]


def _overridden(quote: HostedQuote, given_in: float | None, given_out: float | None) -> HostedQuote:
    return HostedQuote(
        quote.provider,
        quote.input_per_million if given_in is None else given_in,
        quote.output_per_million if given_out is None else given_out,
    )


def cost_policy(
    spec: GptOssDeploymentSpec,
    *,
    gpu_prices: Mapping[str, float] | None = None,
    provider_prices: PriceTable | None = None,
    billing_s: float = 1.0,
) -> CostPolicy | None:
    """The cost policy of ``spec``, priced as the ``prices`` module describes: the CR's prices
    first, then the operator's GPU prices and the router's provider table, then list prices;
    a replica's capacity starts from ``capacity_priors`` for its tensor parallel size."""
    auto = spec.autoscaling
    if auto is None or auto.policy != "Cost":
        return None
    try:
        gpus = size_spec(spec).tensor_parallel_size
    except GptOssError:  # does not fit, or adapters vLLM would refuse: the reconcile says so
        gpus = spec.gpu.count or 1
    gpu_price = gpu_hourly_price(
        spec.gpu.product, from_cr=auto.gpu_hourly_price, from_operator=gpu_prices or {}
    )
    if gpu_price is None:  # no price known for this product; the CRD requires one then
        return None
    given = auto.hosted_price_per_million_tokens
    given_in = None if given is None else given.input
    given_out = None if given is None else given.output
    spill = spec.spillover
    may_spill = spill is not None and "Saturated" in spill.when and spill.providers != []
    list_in, list_out = DEFAULT_HOSTED_PRICE[spec.model]
    hosted_in = list_in if given_in is None else given_in
    hosted_out = list_out if given_out is None else given_out
    provider = LIST_PRICE if given is None else "spec.autoscaling"
    quotes: tuple[HostedQuote, ...] = ()
    if provider_prices is not None and (given_in is None or given_out is None):
        cap = None if spill is None else spill.max_price_per_million_tokens
        admitted = admissible_quotes(
            spec.model,
            provider_prices,
            allowed=None if spill is None else spill.providers,
            cap_input=None if cap is None else cap.input,
            cap_output=None if cap is None else cap.output,
        )
        quotes = tuple(_overridden(q, given_in, given_out) for q in admitted)
        may_spill = may_spill and bool(quotes)  # no provider to take the overflow
    return CostPolicy(
        min_replicas=auto.min_replicas,
        max_replicas=auto.max_replicas,
        cold_start_s=parse_duration(auto.cold_start),
        prices=Prices(gpu_price * gpus, hosted_in, hosted_out),
        may_spill=may_spill,
        capacity_prior=capacity_prior(spec.model, spec.gpu.product, gpus),
        gpus=gpus,
        product=spec.gpu.product,
        provider=provider,
        quotes=quotes,
        billing_s=billing_s,
        burst_standby_s=parse_duration(auto.burst_standby),
    )


def queue_policy(spec: GptOssDeploymentSpec) -> Policy | None:
    auto = spec.autoscaling
    if auto is None:
        return None
    return Policy(
        min_replicas=auto.min_replicas,
        max_replicas=auto.max_replicas,
        target_queue_depth=auto.target_queue_depth,
        scale_down_delay_s=parse_duration(auto.scale_down_delay),
        max_num_seqs=max_num_seqs(spec),
    )
