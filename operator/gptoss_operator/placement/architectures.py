"""What the sizing needs to know about each gpt-oss model: weights in GPU memory and KV layout.

Sources (docs/sources.md, Sizing):

* Weights: vLLM loads gpt-oss-120b into 64.38 GiB (v0.14.1, vllm #33155) to 65.97 GiB (v0.10.1,
  vllm #23278) on one H100. The larger figure, rounded up to 66 GiB, is used so that sizing
  errs on the side of refusing. For gpt-oss-20b a ROCm log shows 7.26 GiB per rank at tensor
  parallel size 2, i.e. 14.52 GiB in all.
* Layout: both models alternate sliding-window (window 128) and full-attention layers: 18 + 18
  for 120b, 12 + 12 for 20b; 8 KV heads of dimension 64, so one layer stores
  2 (K and V) x 8 x 64 x 2 bytes (bf16) = 2048 bytes per token. The context window
  (``max_position_embeddings``) is 131072 tokens.
* What LoRA adapts: hidden size 2880, 64 attention heads of dimension 64 (queries of 4096),
  and a mixture of experts (128 experts in 120b, 32 in 20b) whose intermediate size is 2880
  (``config.json``: ``hidden_size``, ``num_attention_heads``, ``head_dim``,
  ``num_local_experts``, ``intermediate_size``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.errors import CatalogError

__all__ = ["MAX_CONTEXT", "MODELS", "GptOssModel", "model_named"]

MAX_CONTEXT = 131072  # max_position_embeddings of both models
_KV_BYTES_PER_LAYER_TOKEN = 2 * 8 * 64 * 2  # K and V, 8 KV heads, head dim 64, bf16


@dataclass(frozen=True)
class GptOssModel:
    """One gpt-oss checkpoint as vLLM lays it out in GPU memory."""

    name: str  # what spec.model accepts, and the model id the router serves
    checkpoint: str  # the public Hugging Face repository
    weights_mib: float  # all ranks together; split evenly across tensor-parallel ranks
    full_attention_layers: int
    sliding_window_layers: int
    sliding_window: int = 128
    kv_bytes_per_layer_token: int = _KV_BYTES_PER_LAYER_TOKEN
    max_context: int = MAX_CONTEXT
    experts: int = 128
    hidden_size: int = 2880
    expert_intermediate_size: int = 2880
    attention_heads: int = 64
    kv_heads: int = 8
    head_dim: int = 64

    @property
    def layers(self) -> int:
        return self.full_attention_layers + self.sliding_window_layers

    @property
    def full_attention_bytes_per_token(self) -> int:
        """KV bytes one token costs across the full-attention layers (36,864 B for 120b)."""
        return self.full_attention_layers * self.kv_bytes_per_layer_token


GPT_OSS_120B = GptOssModel(
    name="gpt-oss-120b",
    checkpoint="openai/gpt-oss-120b",
    weights_mib=66 * 1024,
    full_attention_layers=18,
    sliding_window_layers=18,
)
GPT_OSS_20B = GptOssModel(
    name="gpt-oss-20b",
    checkpoint="openai/gpt-oss-20b",
    weights_mib=2 * 7.26 * 1024,
    full_attention_layers=12,
    sliding_window_layers=12,
    experts=32,
)

MODELS: tuple[GptOssModel, ...] = (GPT_OSS_120B, GPT_OSS_20B)


def model_named(name: str) -> GptOssModel:
    """The model called ``name`` (``gpt-oss-120b`` or ``gpt-oss-20b``)."""
    for model in MODELS:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in MODELS)
    raise CatalogError(f"unknown model {name!r}; known models: {known}")
