"""What one replica serves before it is measured: output tokens per second at 20 tokens/s per
request, per (model, GPU product, tensor parallel size) (pure).

The cost policy needs a replica's capacity to price a replica it has not started yet. A replica
that has never run (``minReplicas: 0``) is never measured, so the prior alone decides whether
the first replica is bought; once replicas run saturated, ``capacity.CapacityEstimate`` replaces
the prior with what they serve.

The target is 20 output tokens/s for each request (a time per output token, TPOT, of 50 ms:
about reading speed). Published figures are taken at their own TPOT and brought to 50 ms with
the step model of the vLLM simulator (``gptoss_sim.capacity``): a step lasts a fixed 5.5 ms plus
a share per running sequence, so an engine's rate at TPOT ``t`` is proportional to
``(t - 5.5 ms) / t``; a figure measured at a TPOT below 50 ms is kept as it is. Figures given in
total tokens (prompt and reply) count half as output: the ShareGPT conversations of vLLM's
serving benchmark have replies about as long as their prompts. Sources in docs/sources.md
(Capacity priors):

* GPUStack performance lab, vLLM, ShareGPT, one GPU each (their "baseline"):
  gpt-oss-120b on H100 6,095 total tokens/s at 54.1 ms (vLLM 0.10.2), on A100 80GB 4,769 at
  97.6 ms (vLLM 0.11.0); gpt-oss-20b on H100 16,701 at 91.3 ms, on A100 9,743 at 48.6 ms.
* A replica at tensor parallel size ``n`` counts as ``n`` GPUs at the one-GPU figure: GPUStack
  measured 2 x H100 (tensor parallel 2) at more per GPU than one, so this errs low.
* MI300X: no published vLLM figure at a known per-request speed (one public run reports 479
  output tokens/s at an unstated concurrency, far from saturation); the H100's per-GPU figure
  stands in. L4: no published figure; the H100's per-GPU figure scaled by memory bandwidth
  (300 GB/s against 3.35 TB/s), decoding being bandwidth-bound.
* Any other product (H200, B200, …, priced by the CR or the chart): the H100's per-GPU figure
  too, until its replicas are measured; newer GPUs serve more, so this errs low, and a product
  without a figure never stops the autoscaler.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PRIORS",
    "TARGET_TPOT_S",
    "CapacityPrior",
    "at_target_tpot",
    "capacity_prior",
]

TARGET_TPOT_S = 0.050  # 20 output tokens/s per request
_STEP_BASE_S = 0.0055  # gptoss_sim.capacity.CapacityParams.step_base_s
_OUTPUT_SHARE = 0.5  # ShareGPT in vLLM's serving benchmark: replies about as long as prompts
_L4_BANDWIDTH_RATIO = 300.0 / 3350.0  # L4 300 GB/s, H100 SXM 3.35 TB/s
_STAND_IN = "H100-80GB"  # whose per-GPU figure a product without one of its own starts from


def at_target_tpot(tokens_per_s: float, measured_tpot_s: float) -> float:
    """A rate measured at ``measured_tpot_s`` brought to ``TARGET_TPOT_S`` (never raised)."""
    if measured_tpot_s <= TARGET_TPOT_S:
        return tokens_per_s
    share = (TARGET_TPOT_S - _STEP_BASE_S) / TARGET_TPOT_S
    measured = (measured_tpot_s - _STEP_BASE_S) / measured_tpot_s
    return tokens_per_s * share / measured


@dataclass(frozen=True)
class CapacityPrior:
    per_gpu_tokens_per_s: float  # output tokens/s per GPU at the target TPOT
    source: str  # short, for status messages and docs


def _sharegpt(total_tokens_per_s: float, tpot_s: float, source: str) -> CapacityPrior:
    return CapacityPrior(at_target_tpot(total_tokens_per_s * _OUTPUT_SHARE, tpot_s), source)


_H100_120B = _sharegpt(6095.37, 0.05410, "GPUStack, vLLM 0.10.2, ShareGPT, 1 x H100")
_H100_20B = _sharegpt(16701.31, 0.09133, "GPUStack, vLLM 0.11.0, ShareGPT, 1 x H100")

PRIORS: dict[tuple[str, str], CapacityPrior] = {
    ("gpt-oss-120b", "H100-80GB"): _H100_120B,
    ("gpt-oss-120b", "A100-80GB"): _sharegpt(
        4768.75, 0.09757, "GPUStack, vLLM 0.11.0, ShareGPT, 1 x A100 80GB"
    ),
    ("gpt-oss-120b", "MI300X"): CapacityPrior(
        _H100_120B.per_gpu_tokens_per_s, "no published figure: the H100's per GPU"
    ),
    ("gpt-oss-120b", "L4"): CapacityPrior(
        _H100_120B.per_gpu_tokens_per_s * _L4_BANDWIDTH_RATIO,
        "no published figure: the H100's per GPU scaled by memory bandwidth",
    ),
    ("gpt-oss-20b", "H100-80GB"): _H100_20B,
    ("gpt-oss-20b", "A100-80GB"): _sharegpt(
        9743.28, 0.04857, "GPUStack, vLLM 0.11.0, ShareGPT, 1 x A100 80GB"
    ),
    ("gpt-oss-20b", "MI300X"): CapacityPrior(
        _H100_20B.per_gpu_tokens_per_s, "no published figure: the H100's per GPU"
    ),
    ("gpt-oss-20b", "L4"): CapacityPrior(
        _H100_20B.per_gpu_tokens_per_s * _L4_BANDWIDTH_RATIO,
        "no published figure: the H100's per GPU scaled by memory bandwidth",
    ),
}


def capacity_prior(model: str, product: str, tensor_parallel_size: int) -> float:
    """Output tokens/s one replica of ``model`` on ``tensor_parallel_size`` x ``product``
    serves at 20 tokens/s per request, before any is measured."""
    if tensor_parallel_size < 1:
        raise ValueError(f"tensor parallel size must be at least 1, got {tensor_parallel_size}")
    prior = PRIORS.get((model, product)) or PRIORS.get((model, _STAND_IN))
    if prior is None:
        known = ", ".join(f"{m} on {p}" for m, p in PRIORS)
        raise ValueError(f"no capacity prior for {model}; known: {known}")
    return prior.per_gpu_tokens_per_s * tensor_parallel_size
