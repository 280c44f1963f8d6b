"""The GPU memory vLLM sets aside for LoRA adapters on gpt-oss (pure).

With ``--enable-lora`` vLLM wraps every layer it can adapt and gives each a zeroed buffer for
``--max-loras`` adapters of ``--max-lora-rank`` at model load (``create_lora_weights`` in
``vllm/lora/layers/``, called by ``LoRAModelManager._create_lora_modules`` in
``vllm/lora/model_manager.py``). The buffers exist whether or not an adapter is loaded, so the
worker's memory profile counts them with the weights and the KV cache gets what is left
(``vllm/v1/worker/gpu_worker.py``, ``determine_available_memory``; docs/sources.md, vLLM LoRA
memory). Their type is the model's (``--lora-dtype auto``): bf16, 2 bytes.

Which gpt-oss layers vLLM adapts (``vllm/model_executor/models/gpt_oss.py``: ``SupportsLoRA``,
``packed_modules_mapping = {"qkv_proj": [...]}``, ``is_3d_moe_weight``; LoRA wraps only
vLLM's linear and fused-MoE layers, ``vllm/lora/utils.py`` ``get_supported_lora_modules``):

* attention ``qkv_proj`` (``MergedQKVParallelLinearWithLoRA``): A is 3 x (rank x hidden), one
  per slice; B is (q + k + v outputs of this GPU) x rank;
* attention ``o_proj`` (``RowParallelLinearWithLoRA``): A is rank x (this GPU's 4096 / TP
  inputs); B is hidden x rank;
* the experts (``FusedMoE3DWithLoRA``, ``vllm/lora/layers/fused_moe.py``), every expert of
  the layer on every GPU (LoRA on experts refuses expert parallelism): w13 A is rank x hidden,
  w13 B is (2 x intermediate / TP) x rank, w2 A is rank x (intermediate / TP), w2 B is
  hidden x rank;
* not the router (a plain ``torch.nn.Linear``), the embedding or the LM head (gpt-oss declares
  no embedding modules for LoRA).

The experts dominate: one rank-16 slot takes 2,047.8 MiB for gpt-oss-120b (36 layers x 128
experts) and 352.7 MiB for gpt-oss-20b at tensor parallel size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.placement.architectures import GptOssModel

__all__ = ["LORA_DTYPE_BYTES", "LoraSlots", "lora_bytes", "lora_bytes_per_gpu"]

LORA_DTYPE_BYTES = 2  # --lora-dtype auto: the model's bf16


@dataclass(frozen=True)
class LoraSlots:
    """vLLM's ``--max-loras`` and ``--max-lora-rank``: the adapter buffers of each GPU."""

    max_loras: int
    max_lora_rank: int


def lora_bytes_per_gpu(model: GptOssModel, slots: LoraSlots, tensor_parallel_size: int) -> int:
    """Bytes of LoRA buffers on each GPU of a replica of ``tensor_parallel_size`` GPUs."""
    tp = tensor_parallel_size
    rank = slots.max_lora_rank
    hidden = model.hidden_size
    queries = model.attention_heads * model.head_dim
    keys = model.kv_heads * model.head_dim
    inter = model.expert_intermediate_size
    qkv = 3 * rank * hidden + (queries + 2 * keys) // tp * rank
    out = rank * (queries // tp) + hidden * rank
    experts = model.experts * rank * (hidden + 2 * inter // tp + inter // tp + hidden)
    elements = model.layers * (qkv + out + experts)
    return slots.max_loras * elements * LORA_DTYPE_BYTES


def lora_bytes(model: GptOssModel, slots: LoraSlots, tensor_parallel_size: int) -> int:
    """Bytes of LoRA buffers across all the replica's GPUs."""
    return tensor_parallel_size * lora_bytes_per_gpu(model, slots, tensor_parallel_size)
