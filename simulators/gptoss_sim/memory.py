"""How much KV cache a simulated vLLM gets: its GPUs' memory as vLLM divides it at startup (pure).

vLLM 0.17.0, per GPU of the replica (a tensor-parallel rank):

- ``requested = --gpu-memory-utilization x total memory`` (``vllm/v1/worker/gpu_worker.py``,
  ``request_memory``); the KV cache gets what the profile run leaves of it:
  ``requested - weights - activation peak - non-torch memory``
  (``determine_available_memory``). The LoRA buffers are allocated with the model, before the
  profile, so they count with the weights (``vllm/lora/model_manager.py``,
  ``_create_lora_modules``). ``--kv-cache-memory-bytes`` replaces that measurement with its
  figure.
- The cache is split into blocks of ``--block-size`` tokens across the model's layers
  (``vllm/v1/core/kv_cache_utils.py``, ``get_kv_cache_configs``). gpt-oss has as many
  sliding-window layers as full-attention ones, so one block pool serves both groups, a block
  holding ``block_size`` tokens of each layer of a group: the cache holds
  ``available / (full-attention layers x bytes per layer and token)`` tokens, the bytes of a
  layer being ``2 (K, V) x KV heads of this rank x head dim x --kv-cache-dtype bytes``.
  ``--num-gpu-blocks-override`` sets the block count instead.
- vLLM refuses to start when one request of ``--max-model-len`` does not fit
  (``check_enough_kv_cache_memory``): "No available memory for the cache blocks" when nothing is
  left, else "To serve at least one request with the models's max seq len ..." with the GiB
  needed, the GiB available and the longest length that would fit.

The figures (docs/sources.md, Sizing): weights 66 GiB for gpt-oss-120b (65.97 GiB measured on
vLLM 0.10.1, rounded up: the larger public figure, so the simulator errs on the side of
refusing) and 14.52 GiB for gpt-oss-20b, split evenly across the ranks; the activation peak and
non-torch memory, 8,146 MiB per GPU, derived from the one published breakdown (gpt-oss-120b on
one H100 of 81,559 MiB at utilization 0.95 with 1024 batched tokens left 1.71 GiB for the KV
cache, vLLM #27508: 0.95 x 81,559 - 66 x 1024 - 1.71 x 1024 = 8,146 MiB). Which LoRA buffers
vLLM allocates for gpt-oss is in ``lora_buffer_bytes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_sim.capacity import CapacityParams, sequence_blocks

__all__ = [
    "CHECKPOINTS",
    "RUNTIME_MIB_PER_GPU",
    "Checkpoint",
    "MemoryPlan",
    "Request",
    "checkpoint_named",
    "lora_buffer_bytes",
    "refusal",
]

_GIB = 1024**3
_MIB = 1024**2
RUNTIME_MIB_PER_GPU = 8146.0  # activation peak and non-torch memory; see the module docstring
_LORA_DTYPE_BYTES = 2  # --lora-dtype auto: the model's bf16


@dataclass(frozen=True)
class Checkpoint:
    """A gpt-oss checkpoint as its ``config.json`` describes it, and its weights on the GPU."""

    name: str
    weights_gib: float  # all ranks together
    full_attention_layers: int
    sliding_window_layers: int
    experts: int
    kv_heads: int = 8
    head_dim: int = 64
    attention_heads: int = 64
    hidden_size: int = 2880
    expert_intermediate_size: int = 2880

    @property
    def layers(self) -> int:
        return self.full_attention_layers + self.sliding_window_layers


CHECKPOINTS = (
    Checkpoint(
        "gpt-oss-120b", 66.0, full_attention_layers=18, sliding_window_layers=18, experts=128
    ),
    Checkpoint(
        "gpt-oss-20b", 14.52, full_attention_layers=12, sliding_window_layers=12, experts=32
    ),
)


def checkpoint_named(text: str) -> Checkpoint | None:
    """The checkpoint a model name or path names (``openai/gpt-oss-20b``, ``gpt-oss-120b``),
    or None for one it does not (a fine-tune's directory)."""
    lowered = text.lower()
    for checkpoint in CHECKPOINTS:
        if lowered.rstrip("/").endswith(checkpoint.name):
            return checkpoint
    return None


def lora_buffer_bytes(checkpoint: Checkpoint, max_loras: int, max_lora_rank: int, tp: int) -> int:
    """Bytes of the LoRA buffers on each GPU: ``max_loras`` slots of rank ``max_lora_rank`` on
    every layer vLLM adapts on gpt-oss (``vllm/model_executor/models/gpt_oss.py``, the
    ``vllm/lora/layers/`` classes' ``create_lora_weights``):

    - ``qkv_proj`` (``MergedQKVParallelLinearWithLoRA``): A, one ``rank x hidden`` per slice of
      q, k and v; B, this rank's q, k and v outputs x ``rank``;
    - ``o_proj`` (``RowParallelLinearWithLoRA``): A, ``rank x`` this rank's share of the
      attention output; B, ``hidden x rank``;
    - every expert on every rank (``FusedMoE3DWithLoRA``): w13 A ``rank x hidden``, w13 B
      ``2 x intermediate / tp x rank``, w2 A ``rank x intermediate / tp``, w2 B
      ``hidden x rank``.

    Not the router, the embedding or the LM head."""
    c, r = checkpoint, max_lora_rank
    queries, keys = c.attention_heads * c.head_dim, c.kv_heads * c.head_dim
    qkv_a, qkv_b = 3 * r * c.hidden_size, (queries + 2 * keys) // tp * r
    o_a, o_b = r * (queries // tp), c.hidden_size * r
    inter = c.expert_intermediate_size
    w13 = r * c.hidden_size + 2 * inter // tp * r
    w2 = r * (inter // tp) + c.hidden_size * r
    per_layer = qkv_a + qkv_b + o_a + o_b + c.experts * (w13 + w2)
    return max_loras * c.layers * per_layer * _LORA_DTYPE_BYTES


@dataclass(frozen=True)
class MemoryPlan:
    """One rank of a replica: its GPU and the flags that divide its memory."""

    checkpoint: Checkpoint
    gpu_memory_gib: float
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9  # vLLM's default
    kv_cache_dtype_bytes: int = 2  # auto: bf16; fp8 variants store one byte
    kv_cache_memory_bytes: int | None = None
    num_gpu_blocks_override: int | None = None
    lora: tuple[int, int] | None = None  # (max_loras, max_lora_rank) with --enable-lora

    @property
    def weights_bytes(self) -> float:
        return self.checkpoint.weights_gib * _GIB / self.tensor_parallel_size

    @property
    def lora_bytes(self) -> int:
        if self.lora is None:
            return 0
        loras, rank = self.lora
        return lora_buffer_bytes(self.checkpoint, loras, rank, self.tensor_parallel_size)

    @property
    def available_bytes(self) -> float:
        """What the KV cache gets on each GPU (negative when the rest does not fit)."""
        if self.kv_cache_memory_bytes is not None:
            return float(self.kv_cache_memory_bytes)
        requested = self.gpu_memory_utilization * self.gpu_memory_gib * _GIB
        return requested - self.weights_bytes - RUNTIME_MIB_PER_GPU * _MIB - self.lora_bytes

    @property
    def token_bytes(self) -> int:
        """KV bytes one token takes on this rank across one group of layers."""
        heads = max(1, self.checkpoint.kv_heads // self.tensor_parallel_size)
        per_layer = 2 * heads * self.checkpoint.head_dim * self.kv_cache_dtype_bytes
        return self.checkpoint.full_attention_layers * per_layer

    def kv_cache_tokens(self, block_size: int) -> int:
        """Tokens the cache holds, in whole blocks (0 when nothing is left for it)."""
        if self.num_gpu_blocks_override is not None:
            return self.num_gpu_blocks_override * block_size
        blocks = math.floor(max(0.0, self.available_bytes) / (self.token_bytes * block_size))
        return blocks * block_size


@dataclass(frozen=True)
class Request:
    """What one full-length request reserves: vLLM's flags that shape it."""

    max_model_len: int
    block_size: int
    max_num_batched_tokens: int
    sliding_window: int | None = CapacityParams.sliding_window

    def blocks(self, max_model_len: int | None = None) -> int:
        return sequence_blocks(
            self.max_model_len if max_model_len is None else max_model_len,
            block_size=self.block_size,
            sliding_window=self.sliding_window,
            max_num_batched_tokens=self.max_num_batched_tokens,
        )

    def longest(self, total_blocks: int) -> int:
        """The longest ``--max-model-len`` whose one request fits ``total_blocks`` (vLLM's
        ``estimate_max_model_len`` searches the same way)."""
        low, high = 0, self.max_model_len
        while low < high:
            mid = (low + high + 1) // 2
            if self.blocks(mid) <= total_blocks:
                low = mid
            else:
                high = mid - 1
        return low


def refusal(plan: MemoryPlan, request: Request) -> str | None:
    """vLLM's words when it refuses to start because one full-length request does not fit the
    cache (``check_enough_kv_cache_memory``); None when it fits."""
    total = plan.kv_cache_tokens(request.block_size) // request.block_size
    if total <= 0:
        return (
            "No available memory for the cache blocks. Try increasing "
            "`gpu_memory_utilization` when initializing the engine."
        )
    needed = request.blocks()
    if needed <= total:
        return None
    block_bytes = request.block_size * plan.token_bytes
    return (
        "To serve at least one request with the models's max seq len "
        f"({request.max_model_len}), ({needed * block_bytes / _GIB:.2f} GiB KV cache is "
        "needed, which is larger than the available KV cache memory "
        f"({total * block_bytes / _GIB:.2f} GiB). Based on the available memory, the "
        f"estimated maximum model length is {request.longest(total)}. Try increasing "
        "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."
    )
