"""The autoscaling policy of a GptOssDeployment's spec, as the deciders take it (pure)."""

from __future__ import annotations

from gptoss_operator.api import GptOssDeploymentSpec
from gptoss_operator.autoscaling.decide import Policy, parse_duration
from gptoss_operator.autoscaling.economics import (
    DEFAULT_GPU_HOURLY_PRICE,
    DEFAULT_HOSTED_PRICE,
    CostPolicy,
    Prices,
)
from gptoss_operator.errors import SizingError
from gptoss_operator.placement.serving_args import max_num_seqs
from gptoss_operator.placement.sizing import size_spec

__all__ = ["cost_policy", "queue_policy"]


def cost_policy(spec: GptOssDeploymentSpec) -> CostPolicy | None:
    auto = spec.autoscaling
    if auto is None or auto.policy != "Cost":
        return None
    try:
        gpus = size_spec(spec).tensor_parallel_size
    except SizingError:
        gpus = spec.gpu.count or 1
    gpu_price = auto.gpu_hourly_price or DEFAULT_GPU_HOURLY_PRICE.get(spec.gpu.product)
    if gpu_price is None:  # no list price for this product; the CRD requires one then
        return None
    hosted_in, hosted_out = DEFAULT_HOSTED_PRICE[spec.model]
    if (given := auto.hosted_price_per_million_tokens) is not None:
        hosted_in = hosted_in if given.input is None else given.input
        hosted_out = hosted_out if given.output is None else given.output
    spill = spec.spillover
    return CostPolicy(
        min_replicas=auto.min_replicas,
        max_replicas=auto.max_replicas,
        cold_start_s=parse_duration(auto.cold_start),
        prices=Prices(gpu_price * gpus, hosted_in, hosted_out),
        may_spill=spill is not None and "Saturated" in spill.when and spill.providers != [],
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
