"""Today's GPU products and node sizes: each card sized with its own memory and recipe, vLLM's
batch default per card, and no replica larger than the largest node of its product.

Every expected figure is computed here from the cited facts (docs/sources.md, GPU nodes, vLLM
recipe, Sizing), not copied from the code.
"""

from __future__ import annotations

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import NoNodeLargeEnough, SizingError
from gptoss_operator.placement.architectures import GPT_OSS_20B, GPT_OSS_120B
from gptoss_operator.placement.gpus import Architecture, product_named
from gptoss_operator.placement.nodes import largest_node, pinning_selector
from gptoss_operator.placement.sizing import (
    RUNTIME_OVERHEAD_MIB,
    NodeLimit,
    sequence_kv_bytes,
    size,
    size_spec,
)

MIB = 1024**2
H200 = product_named("H200")
B200 = product_named("B200")
L4 = product_named("L4")


def test_an_h200_is_sized_with_its_141_gb_not_as_an_h100() -> None:
    sizing = size(GPT_OSS_120B, H200, max_model_len=32768)
    assert H200.memory_mib == 143771  # nvidia-smi's total for "NVIDIA H200"
    assert sizing.tensor_parallel_size == 1
    # Not the H100 limitation: vLLM's own 0.9 and the recipe's 8192 batched tokens.
    assert (sizing.gpu_memory_utilization, sizing.max_num_batched_tokens) == (0.9, 8192)
    kv_mib = 0.9 * 143771 - 66 * 1024 - RUNTIME_OVERHEAD_MIB
    assert sizing.kv_cache_gib == pytest.approx(kv_mib / 1024)
    assert sizing.kv_cache_gib > 44  # an H100 at 0.95 leaves 1.71 GiB


@pytest.mark.parametrize("name", ["H100-80GB", "H100-NVL", "H100-PCIe"])
def test_every_h100_keeps_the_recipes_one_card_limitation_for_120b(name: str) -> None:
    sizing = size(GPT_OSS_120B, product_named(name), gpus=1, max_model_len=8192)
    assert (sizing.gpu_memory_utilization, sizing.max_num_batched_tokens) == (0.95, 1024)


def test_blackwell_gets_its_own_recipe_and_an_fp8_kv_cache_of_half_the_bytes() -> None:
    sizing = size(GPT_OSS_120B, B200)
    args = sizing.vllm_args
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"
    assert sizing.env == {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1"}
    assert B200.architecture is Architecture.BLACKWELL
    bf16 = sum(
        sequence_kv_bytes(
            GPT_OSS_120B, max_model_len=131072, max_num_batched_tokens=8192, block_size=16
        )
    )
    assert sizing.budget.sequence_kv_bytes * 2 == bf16


def test_mi325x_uses_the_cdna3_recipe_with_its_256_gb() -> None:
    sizing = size(GPT_OSS_120B, product_named("MI325X"))
    assert sizing.product.memory_mib == 256 * 1024
    assert "--block-size=64" in sizing.vllm_args
    assert sizing.gpu_memory_utilization == 0.95


@pytest.mark.parametrize(
    ("name", "seqs"),
    [
        ("H100-80GB", 1024),
        ("H200", 1024),
        ("B200", 1024),
        ("MI325X", 1024),
        ("A100-80GB", 256),  # vLLM names A100 out, whatever its memory
        ("A100-80GB-PCIe", 256),
        ("L4", 256),  # under 70 GiB
    ],
)
def test_sizing_and_status_carry_vllms_batch_default_for_the_card(name: str, seqs: int) -> None:
    spec = GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": name}, "serving": {"maxModelLen": 8192}}
    )
    assert size_spec(spec).max_num_seqs == seqs
    given = spec.model_copy(update={"serving": spec.serving.model_copy(update={"max_num_seqs": 7})})
    assert size_spec(given).max_num_seqs == 7


def test_120b_on_l4_needs_eight_cards_so_four_card_nodes_refuse_it_naming_the_node() -> None:
    assert size(GPT_OSS_120B, L4).tensor_parallel_size == 8
    limit = NodeLimit("gpu-l4-0", 4, "nvidia.com/gpu")
    with pytest.raises(NoNodeLargeEnough) as refused:
        size(GPT_OSS_120B, L4, node_limit=limit)
    message = str(refused.value)
    assert "needs 8 x L4" in message
    assert "gpu-l4-0, has 4 allocatable nvidia.com/gpu" in message
    assert isinstance(refused.value, SizingError)


def test_the_count_chosen_never_exceeds_the_largest_node() -> None:
    # 20b at the full context takes 1 H100; with 2-GPU nodes and an explicit 4, it is refused.
    limit = NodeLimit("small", 2, "nvidia.com/gpu")
    assert (
        size(GPT_OSS_120B, product_named("H100-80GB"), node_limit=limit).tensor_parallel_size <= 2
    )
    with pytest.raises(NoNodeLargeEnough, match=r"set spec\.gpu\.count to 2"):
        size(GPT_OSS_20B, product_named("H100-80GB"), gpus=4, node_limit=limit)
    # A node of 6 GPUs holds a tensor parallel size of 4 at most.
    assert NodeLimit("odd", 6, "nvidia.com/gpu").tensor_parallel_limit == 4


def test_the_largest_node_is_read_from_allocatable_gpus() -> None:
    def node(name: str, gpus: str) -> dict[str, object]:
        return {"metadata": {"name": name}, "status": {"allocatable": {"nvidia.com/gpu": gpus}}}

    found = largest_node([node("a", "2"), node("b", "4"), node("c", "0")], "nvidia.com/gpu")
    assert found == NodeLimit("b", 4, "nvidia.com/gpu")
    assert largest_node([], "nvidia.com/gpu") is None
    assert pinning_selector({"b": "2", "a": "1"}) == "a=1,b=2"
