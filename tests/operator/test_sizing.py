"""Sizing against the published figures (docs/sources.md, vLLM recipe and Sizing).

Every expected number is computed here from the cited facts, not copied from the code.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import SizingError
from gptoss_operator.placement.architectures import (
    GPT_OSS_20B,
    GPT_OSS_120B,
    MAX_CONTEXT,
    GptOssModel,
)
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.sizing import memory_budget, sequence_kv_bytes, size, size_spec
from tests.operator.gptoss_crd import EXAMPLES, load_yaml

GIB = 1024**3
MIB = 1024**2
H100 = product_named("H100-80GB")
A100 = product_named("A100-80GB")
L4 = product_named("L4")
MI300X = product_named("MI300X")

# 2 (K, V) x 8 KV heads x head dim 64 x 2 bytes (bf16) per layer and token.
KV_PER_LAYER_TOKEN = 2 * 8 * 64 * 2
# vllm #27508: 120b, one H100, --gpu-memory-utilization 0.95
# --max-num-batched-tokens 1024 -> "Available KV cache memory: 1.71 GiB".
KV_LEFT_ON_ONE_H100_GIB = 1.71
# vLLM's weight footprint of 120b is 64.38-65.97 GiB; sizing takes the upper end, 66.
WEIGHTS_120B_GIB = 66.0
# Derived from the two facts above: what one GPU spends besides weights and KV.
RUNTIME_GIB = 0.95 * H100.memory_mib / 1024 - WEIGHTS_120B_GIB - KV_LEFT_ON_ONE_H100_GIB


def test_kv_per_token_is_36_kib_for_120b_and_24_kib_for_20b() -> None:
    # 18 full-attention layers for 120b, 12 for 20b; 36,864 B and 24,576 B per token.
    assert GPT_OSS_120B.full_attention_bytes_per_token == 18 * KV_PER_LAYER_TOKEN == 36_864
    assert GPT_OSS_20B.full_attention_bytes_per_token == 12 * KV_PER_LAYER_TOKEN == 24_576


def test_one_full_length_120b_sequence_needs_about_4_5_gib_of_full_attention_kv() -> None:
    full, _ = sequence_kv_bytes(
        GPT_OSS_120B, max_model_len=MAX_CONTEXT, max_num_batched_tokens=8192, block_size=16
    )
    assert full == 36_864 * 131_072
    assert full / GIB == pytest.approx(4.5, abs=0.05)  # "120b ≈ 4.5 GiB"


def test_one_full_length_20b_sequence_needs_about_3_gib_of_full_attention_kv() -> None:
    full, _ = sequence_kv_bytes(
        GPT_OSS_20B, max_model_len=MAX_CONTEXT, max_num_batched_tokens=8192, block_size=16
    )
    assert full / GIB == pytest.approx(3.0, abs=0.05)  # "20b ≈ 3.0 GiB"


@pytest.mark.parametrize(("model", "mib"), [(GPT_OSS_120B, 293), (GPT_OSS_20B, 195)])
def test_sliding_window_layers_reserve_window_plus_batched_tokens(
    model: GptOssModel, mib: int
) -> None:
    # vLLM reserves min(window - 1 + batched, max_model_len) tokens, rounded up to blocks,
    # plus one block; with 8192 batched tokens and block 16 that is 8336 tokens: ≈293 MiB for
    # 120b and ≈195 MiB for 20b.
    _, window = sequence_kv_bytes(
        model, max_model_len=MAX_CONTEXT, max_num_batched_tokens=8192, block_size=16
    )
    tokens = (math.ceil((128 - 1 + 8192) / 16) + 1) * 16
    assert tokens == 8336
    assert window == model.sliding_window_layers * KV_PER_LAYER_TOKEN * tokens
    assert window / MIB == pytest.approx(mib, abs=1)


def test_120b_on_one_h100_at_095_with_1024_batched_tokens_leaves_about_1_7_gib_for_kv() -> None:
    budget = memory_budget(
        GPT_OSS_120B, H100, gpus=1, gpu_memory_utilization=0.95, max_num_batched_tokens=1024
    )
    assert budget.kv_cache_mib / 1024 == pytest.approx(KV_LEFT_ON_ONE_H100_GIB, abs=0.01)


def test_the_same_overhead_predicts_the_failed_start_at_vllm_defaults() -> None:
    # vllm #23278 (v0.10.1, one H100, default utilization 0.9): weights 65.97 GiB, then
    # "Available KV cache memory: -2.14 GiB". An independent check of the derived overhead.
    budget = memory_budget(
        GPT_OSS_120B, H100, gpus=1, gpu_memory_utilization=0.9, max_num_batched_tokens=8192
    )
    predicted = 0.9 * H100.memory_mib / 1024 - 65.97 - RUNTIME_GIB
    assert predicted == pytest.approx(-2.14, abs=0.25)
    assert budget.kv_cache_mib / 1024 == pytest.approx(predicted, abs=0.05)
    assert not budget.fits


def test_120b_does_not_fit_one_h100_at_the_full_context() -> None:
    # 1.71 GiB of KV cannot hold one 131072-token sequence (≈4.5 GiB), as vllm #27508 found.
    with pytest.raises(SizingError) as refused:
        size(GPT_OSS_120B, H100, gpus=1)
    message = str(refused.value)
    available = 0.95 * H100.memory_mib / 1024
    assert "gpt-oss-120b does not fit 1 x H100-80GB" in message
    assert f"gives {available:.2f} GiB" in message
    assert f"{WEIGHTS_120B_GIB:.2f} weights + {RUNTIME_GIB:.2f} runtime" in message
    assert "set spec.gpu.count to 2" in message


def test_the_suggested_max_model_len_fits_one_h100_and_a_longer_one_does_not() -> None:
    with pytest.raises(SizingError) as refused:
        size(GPT_OSS_120B, H100, gpus=1)
    found = re.search(r"lower spec.serving.maxModelLen to (\d+)", str(refused.value))
    assert found is not None
    longest = int(found.group(1))
    # Roughly the 1.71 GiB left, less the sliding-window reservation, at 36 KiB a token.
    assert longest == pytest.approx(KV_LEFT_ON_ONE_H100_GIB * GIB / 36_864, rel=0.03)
    assert size(GPT_OSS_120B, H100, gpus=1, max_model_len=longest).tensor_parallel_size == 1
    with pytest.raises(SizingError):
        size(GPT_OSS_120B, H100, gpus=1, max_model_len=longest + 1024)


def test_120b_takes_two_h100s_by_default_with_the_recipe_tp2_settings() -> None:
    sizing = size(GPT_OSS_120B, H100)
    assert sizing.tensor_parallel_size == 2
    # Recipe: "When running TP2 on H100, set your gpu memory utilization below 0.95"; the
    # Hopper yaml's 8192 batched tokens apply again.
    assert sizing.gpu_memory_utilization < 0.95
    assert sizing.max_num_batched_tokens == 8192
    expected_kv_gib = 2 * (0.9 * H100.memory_mib / 1024 - RUNTIME_GIB) - WEIGHTS_120B_GIB
    assert sizing.kv_cache_gib == pytest.approx(expected_kv_gib, abs=0.01)
    per_sequence = sizing.budget.sequence_kv_bytes
    assert sizing.max_full_length_sequences == int(expected_kv_gib * GIB // per_sequence)


def test_120b_on_one_h100_with_a_32k_context_uses_the_recipe_tight_settings() -> None:
    sizing = size(GPT_OSS_120B, H100, gpus=1, max_model_len=32_768)
    assert sizing.gpu_memory_utilization == 0.95
    assert sizing.max_num_batched_tokens == 1024
    per_sequence = 36_864 * 32_768 + 18 * KV_PER_LAYER_TOKEN * (math.ceil(1151 / 16) + 1) * 16
    assert sizing.max_full_length_sequences == int(KV_LEFT_ON_ONE_H100_GIB * GIB // per_sequence)


def test_120b_does_not_fit_one_l4() -> None:
    with pytest.raises(SizingError) as refused:
        size(GPT_OSS_120B, L4, gpus=1)
    message = str(refused.value)
    assert "gpt-oss-120b does not fit 1 x L4" in message
    assert f"gives {0.9 * L4.memory_mib / 1024:.2f} GiB" in message
    assert f"({WEIGHTS_120B_GIB:.2f} weights" in message
    assert "set spec.gpu.count to 8" in message


def test_20b_fits_one_h100_with_most_of_the_card_left_for_kv() -> None:
    sizing = size(GPT_OSS_20B, H100)
    assert sizing.tensor_parallel_size == 1
    # 7.26 GiB per rank at TP 2, i.e. 14.52 GiB of weights.
    expected_kv_gib = 0.9 * H100.memory_mib / 1024 - 2 * 7.26 - RUNTIME_GIB
    assert sizing.kv_cache_gib == pytest.approx(expected_kv_gib, abs=0.01)


def test_120b_fits_one_mi300x_with_blocks_of_64() -> None:
    sizing = size(GPT_OSS_120B, MI300X)
    assert sizing.tensor_parallel_size == 1
    assert sizing.gpu_memory_utilization == 0.95  # recipe: MI300X tuned configuration
    assert sizing.budget.block_size == 64
    expected_kv_gib = 0.95 * 192 - WEIGHTS_120B_GIB - RUNTIME_GIB
    assert sizing.kv_cache_gib == pytest.approx(expected_kv_gib, abs=0.01)


def test_120b_on_one_a100_is_refused_at_vllm_default_utilization() -> None:
    # 0.9 x 80 GiB = 72 GiB cannot hold 66 GiB of weights and the runtime.
    with pytest.raises(
        SizingError, match=r"1 x A100-80GB at gpuMemoryUtilization 0.90 gives 72.00"
    ):
        size(GPT_OSS_120B, A100, gpus=1)


def test_a_context_longer_than_the_model_window_is_refused() -> None:
    with pytest.raises(SizingError, match="131072-token context window"):
        size(GPT_OSS_20B, H100, max_model_len=MAX_CONTEXT + 1)


@pytest.mark.parametrize("gpus", [3, 16])
def test_a_replica_runs_on_a_power_of_two_gpus_up_to_eight(gpus: int) -> None:
    with pytest.raises(SizingError, match=f"not {gpus}"):
        size(GPT_OSS_20B, H100, gpus=gpus)


def test_more_gpus_never_hold_fewer_full_length_sequences() -> None:
    for model in (GPT_OSS_120B, GPT_OSS_20B):
        for product in (H100, A100, L4, MI300X):
            counts = [
                memory_budget(model, product, gpus=n).full_length_sequences for n in (1, 2, 4, 8)
            ]
            assert counts == sorted(counts), (model.name, product.name, counts)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_placed_on_gpus_that_hold_a_full_length_sequence(example: Path) -> None:
    spec = GptOssDeploymentSpec.model_validate(load_yaml(example)["spec"])
    sizing = size_spec(spec)
    assert sizing.max_full_length_sequences >= 1
    assert sizing.tensor_parallel_size == (spec.gpu.count or sizing.tensor_parallel_size)
    assert sizing.max_model_len == spec.serving.max_model_len
