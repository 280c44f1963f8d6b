"""The memory vLLM sets aside for LoRA adapters, taken from the KV cache (docs/fine-tunes.md,
"Adapter memory"; docs/sources.md, vLLM LoRA memory).

The expected buffers are rebuilt here tensor by tensor, as vLLM's LoRA layers allocate them
(``create_lora_weights`` of ``MergedQKVParallelLinearWithLoRA``, ``RowParallelLinearWithLoRA``
and ``FusedMoE3DWithLoRA``), from gpt-oss's ``config.json`` figures; nothing is copied from the
code under test.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import InvalidAdapters, SizingError
from gptoss_operator.placement.architectures import GPT_OSS_20B, GPT_OSS_120B, GptOssModel
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.lora_memory import LoraSlots, lora_bytes
from gptoss_operator.placement.sizing import longest_fitting_len, memory_budget, size_spec

MIB = 1024**2
# config.json of both models: hidden_size, intermediate_size, num_attention_heads x head_dim,
# num_key_value_heads x head_dim; experts and layers per model.
HIDDEN, INTERMEDIATE, QUERIES, KEYS = 2880, 2880, 64 * 64, 8 * 64
CONFIG = {"gpt-oss-120b": (36, 128), "gpt-oss-20b": (24, 32)}


def expected_bytes(model: GptOssModel, max_loras: int, rank: int, tp: int) -> int:
    """Every LoRA tensor vLLM creates on one GPU, times the GPUs, in bf16."""
    layers, experts = CONFIG[model.name]
    shapes: list[tuple[int, ...]] = [
        # qkv_proj: one A per slice (q, k, v) over the full input, B per slice's local outputs
        *[(max_loras, 1, rank, HIDDEN)] * 3,
        (max_loras, 1, QUERIES // tp, rank),
        (max_loras, 1, KEYS // tp, rank),
        (max_loras, 1, KEYS // tp, rank),
        # o_proj: A over this GPU's inputs, B to the full hidden size
        (max_loras, 1, rank, QUERIES // tp),
        (max_loras, 1, HIDDEN, rank),
        # experts, all of them on every GPU: w13 A, w13 B (gate and up), w2 A, w2 B
        (max_loras, experts, rank, HIDDEN),
        (max_loras, experts, 2 * INTERMEDIATE // tp, rank),
        (max_loras, experts, rank, INTERMEDIATE // tp),
        (max_loras, experts, HIDDEN, rank),
    ]
    per_layer = sum(math.prod(shape) for shape in shapes)
    return tp * layers * per_layer * 2


@pytest.mark.parametrize("model", [GPT_OSS_120B, GPT_OSS_20B], ids=lambda m: m.name)
@pytest.mark.parametrize("tp", [1, 2, 4, 8])
@pytest.mark.parametrize(("max_loras", "rank"), [(1, 16), (4, 64)])
def test_lora_buffers_are_every_adapted_tensor_vllm_allocates(
    model: GptOssModel, tp: int, max_loras: int, rank: int
) -> None:
    assert lora_bytes(model, LoraSlots(max_loras, rank), tp) == expected_bytes(
        model, max_loras, rank, tp
    )


def test_the_experts_make_one_rank_16_slot_of_120b_about_two_gib() -> None:
    slot = lora_bytes(GPT_OSS_120B, LoraSlots(1, 16), 1)
    experts = 36 * 128 * 16 * (HIDDEN + 2 * INTERMEDIATE + INTERMEDIATE + HIDDEN) * 2
    assert experts / slot > 0.98
    assert slot / MIB == pytest.approx(2048, abs=1)


def spec(**fields: Any) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB", "count": 1}, **fields}
    )


ADAPTERS = [
    {"name": "sql", "uri": "hf://acme/sql", "rank": 16},
    {"name": "legal", "uri": "hf://acme/legal", "rank": 32},
]


def test_adapters_take_their_buffers_from_the_kv_cache_and_fewer_sequences_fit() -> None:
    plain = size_spec(spec())
    adapted = size_spec(spec(adapters=ADAPTERS))
    buffers = lora_bytes(GPT_OSS_20B, LoraSlots(2, 32), 1) / MIB  # 2 adapters, rank 32
    assert adapted.budget.lora_mib == pytest.approx(buffers)
    assert plain.budget.kv_cache_mib - adapted.budget.kv_cache_mib == pytest.approx(buffers)
    assert adapted.max_full_length_sequences < plain.max_full_length_sequences
    assert adapted.lora_gib == pytest.approx(buffers / 1024)


def test_more_slots_or_a_higher_rank_leave_less_kv() -> None:
    def kv(**serving: Any) -> float:
        return size_spec(spec(adapters=ADAPTERS, serving=serving)).kv_cache_gib

    assert kv(maxLoras=4) < kv(maxLoras=2)
    assert kv(maxLoraRank=64) < kv(maxLoraRank=32)


def test_a_replica_that_no_longer_fits_with_adapters_is_refused_naming_the_lora_fields() -> None:
    # 120b on one H100 at a context that fits without adapters: one rank-16 slot (2 GiB) does
    # not fit beside it.
    base = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 1}}
    without = memory_budget(GPT_OSS_120B, product_named("H100-80GB"), gpus=1, max_model_len=32768)
    length = longest_fitting_len(GPT_OSS_120B, without)
    assert length >= 4096
    serving = {"maxModelLen": length}
    assert size_spec(GptOssDeploymentSpec.model_validate({**base, "serving": serving}))
    one = [{"name": "sql", "uri": "hf://acme/sql", "rank": 16}]
    with pytest.raises(SizingError) as refused:
        size_spec(
            GptOssDeploymentSpec.model_validate({**base, "serving": serving, "adapters": one})
        )
    gib = lora_bytes(GPT_OSS_120B, LoraSlots(1, 16), 1) / 1024**3
    message = str(refused.value)
    assert f"+ {gib:.2f} LoRA buffers for spec.serving.maxLoras 1 x maxLoraRank 16" in message
    assert "lower spec.serving.maxLoras or spec.serving.maxLoraRank" in message
    assert "set spec.gpu.count to 2" in message


def test_runtime_loading_sizes_vllms_default_slots_whatever_the_list() -> None:
    none = size_spec(spec(adapterLoading="Runtime"))
    two = size_spec(spec(adapterLoading="Runtime", adapters=ADAPTERS[:1]))
    assert none.budget.lora == two.budget.lora == LoraSlots(1, 16)
    assert none.budget.lora_mib == lora_bytes(GPT_OSS_20B, LoraSlots(1, 16), 1) / MIB


def test_runtime_loading_refuses_an_adapter_above_the_default_rank_naming_the_field() -> None:
    with pytest.raises(InvalidAdapters, match=r"spec.adapters\[1\].rank \(32, adapter legal\)"):
        size_spec(spec(adapterLoading="Runtime", adapters=ADAPTERS))
