"""The memory of one replica as vLLM divides it (pure): weights, the runtime's own memory, the
LoRA adapters' buffers, and the KV cache, which gets the rest.

Per replica of ``n`` GPUs (tensor parallel size ``n``):

    available = n x gpu_memory_utilization x memory per GPU
    KV cache  = available - weights - n x runtime overhead - LoRA buffers
    needed    = weights + n x runtime overhead + LoRA buffers + KV bytes of one full-length
                sequence

KV of one sequence (docs/sources.md, Sizing; vLLM ``kv_cache_interface.py``): the
full-attention layers reserve ``ceil(max_model_len / block)`` blocks; each sliding-window layer
reserves ``ceil(min(window - 1 + max_num_batched_tokens, max_model_len) / block) + 1`` blocks.
LoRA buffers: ``lora_memory`` (``--max-loras`` x ``--max-lora-rank`` on every adapted layer;
none without adapters).

Runtime overhead (activations, CUDA graphs, allocator and context memory) is derived from the
one published breakdown: gpt-oss-120b on one H100 at utilization 0.95 with 1024 batched tokens
left 1.71 GiB for KV (vllm #27508), so per GPU it is
0.95 x 81559 MiB - 66 GiB of weights - 1.71 GiB = 8146 MiB. The two models share hidden size,
attention heads and experts per token (their ``config.json``; docs/sources.md, Sizing), so the
same figure is used for gpt-oss-20b.

A KV cache in fp8 (the Blackwell recipe) stores one byte per element, half the bf16 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_operator.placement.architectures import MAX_CONTEXT, GptOssModel
from gptoss_operator.placement.gpus import GpuProduct
from gptoss_operator.placement.lora_memory import LoraSlots, lora_bytes
from gptoss_operator.placement.recipes import AS_RECIPE, KvCacheArgs, recipe_for

__all__ = ["RUNTIME_OVERHEAD_MIB", "MemoryBudget", "memory_budget", "sequence_kv_bytes"]

RUNTIME_OVERHEAD_MIB = 8146.0  # per GPU; derivation in the module docstring
_MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryBudget:
    """Memory of one replica, in MiB, and the KV bytes one full-length sequence reserves."""

    gpus: int
    gpu_memory_utilization: float
    available_mib: float
    weights_mib: float
    runtime_mib: float
    full_kv_bytes: int  # one sequence, full-attention layers
    window_kv_bytes: int  # one sequence, sliding-window layers
    block_size: int
    kv_bytes_per_layer_token: int
    lora_mib: float = 0.0  # the adapters' buffers on all the replica's GPUs
    lora: LoraSlots | None = None

    @property
    def sequence_kv_bytes(self) -> int:
        return self.full_kv_bytes + self.window_kv_bytes

    @property
    def needed_mib(self) -> float:
        return self.weights_mib + self.runtime_mib + self.lora_mib + self.sequence_kv_bytes / _MIB

    @property
    def fits(self) -> bool:
        return self.available_mib >= self.needed_mib

    @property
    def kv_cache_mib(self) -> float:
        """What is left for the KV cache once weights, runtime and LoRA buffers are in (may be
        negative)."""
        return self.available_mib - self.weights_mib - self.runtime_mib - self.lora_mib

    @property
    def full_length_sequences(self) -> int:
        """How many sequences of the full ``max_model_len`` the KV cache holds at once."""
        if self.kv_cache_mib <= 0:
            return 0
        return math.floor(self.kv_cache_mib * _MIB / self.sequence_kv_bytes)


def sequence_kv_bytes(
    model: GptOssModel,
    *,
    max_model_len: int,
    max_num_batched_tokens: int,
    block_size: int,
    dtype_bytes: int = 2,
) -> tuple[int, int]:
    """KV bytes vLLM reserves for one sequence: (full-attention layers, sliding-window layers)."""
    block_bytes = model.kv_bytes_per_layer_token * dtype_bytes // 2 * block_size
    full_blocks = -(-max_model_len // block_size)
    window_tokens = min(model.sliding_window - 1 + max_num_batched_tokens, max_model_len)
    window_blocks = -(-window_tokens // block_size) + 1
    return (
        model.full_attention_layers * block_bytes * full_blocks,
        model.sliding_window_layers * block_bytes * window_blocks,
    )


def memory_budget(
    model: GptOssModel,
    product: GpuProduct,
    *,
    gpus: int,
    max_model_len: int = MAX_CONTEXT,
    gpu_memory_utilization: float | None = None,
    max_num_batched_tokens: int | None = None,
    lora: LoraSlots | None = None,
    kv_cache: KvCacheArgs = AS_RECIPE,
) -> MemoryBudget:
    """The memory budget of one replica on ``gpus`` cards, with the recipe's defaults, the KV
    cache layout the deployment chose (``kv_cache``) and ``lora``'s adapter buffers (none when
    None)."""
    recipe = recipe_for(product).with_kv_cache(kv_cache)
    utilization = gpu_memory_utilization or recipe.gpu_memory_utilization(model.name, gpus)
    batched = max_num_batched_tokens or recipe.max_num_batched_tokens(model.name, gpus)
    full_bytes, window_bytes = sequence_kv_bytes(
        model,
        max_model_len=max_model_len,
        max_num_batched_tokens=batched,
        block_size=recipe.block_size,
        dtype_bytes=recipe.kv_cache_dtype_bytes,
    )
    return MemoryBudget(
        gpus=gpus,
        gpu_memory_utilization=utilization,
        available_mib=gpus * utilization * product.memory_mib,
        weights_mib=model.weights_mib,
        runtime_mib=gpus * RUNTIME_OVERHEAD_MIB,
        full_kv_bytes=full_bytes,
        window_kv_bytes=window_bytes,
        block_size=recipe.block_size,
        kv_bytes_per_layer_token=model.kv_bytes_per_layer_token * recipe.kv_cache_dtype_bytes // 2,
        lora_mib=lora_bytes(model, lora, gpus) / _MIB if lora is not None else 0.0,
        lora=lora,
    )
