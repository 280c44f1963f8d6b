"""The limits and speeds of one vLLM engine, and where their defaults come from.

``CapacityParams`` sizes the engine model: how many sequences run at once (``max_num_seqs``), how
many tokens one step may schedule (``max_num_batched_tokens``), how many KV-cache tokens the GPU
holds in blocks of ``block_size``, and how long a step lasts. A step lasts longer the more
sequences it serves and the more prompt tokens it prefills, so each request's token rate falls
as the batch grows while the engine's total rate rises. The scheduler that steps the engine is
``gptoss_sim.scheduler``; the KV blocks a request holds, ``gptoss_sim.kv_blocks``.

The defaults describe gpt-oss-120b on one H100 80GB at tensor parallel size 1:

- ``kv_cache_tokens`` 49,800: vLLM left 1.71 GiB for KV with ``--gpu-memory-utilization 0.95
  --max-num-batched-tokens 1024`` (docs/sources.md, Sizing, vLLM #27508), and a token of
  the 18 full-attention layers takes 36,864 B (derived, docs/sources.md, Sizing):
  1.71 GiB / 36 KiB ≈ 49,800.
- ``max_num_batched_tokens`` 1024: the recipe's workaround for the H100 TP1 out-of-memory
  (docs/sources.md, vLLM recipe, "Known limitations").
- ``max_num_seqs`` 1024: vLLM's default on a GPU of at least 70 GiB whose name lacks "a100",
  like an H100 80GB (``gptoss_sim.gpu``; vLLM ``engine/arg_utils.py``).
- ``max_model_len`` 32,768: vLLM refuses to start when one full-length sequence does not fit
  the KV pool (the vLLM #27508 situation), so the largest power of two below 49,800.
- step times: 5.5 ms + 0.8 ms per running sequence, i.e. about 180 tokens/s for a lone request
  and about 1,220 tokens/s in total at 256 sequences, near the 1,256 tokens/s per GPU Dynamo
  measured for gpt-oss-120b at concurrency 256 on H200 (docs/sources.md, vLLM recipe, Dynamo
  recipe). The single-request figure is an assumption, not a measurement.
- prefill 50 µs per prompt token (20,000 prompt tokens/s): an assumption sized so that a
  1,024-token chunk costs about one decode step at moderate batch.
- ``startup_s`` 120: loading 64 to 66 GiB of weights (docs/sources.md, Cold starts; vLLM
  #23278, #33155) plus compiling and CUDA-graph capture; an estimate, configurable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CapacityParams:
    """The engine's limits and speeds (see the module docstring for where they come from)."""

    max_num_seqs: int = 1024
    max_num_batched_tokens: int = 1024
    kv_cache_tokens: int = 49_800
    block_size: int = 16
    max_model_len: int = 32_768
    # vLLM's --enable-prefix-caching: on unless --no-enable-prefix-caching
    # (engine/arg_utils.py, _set_default_chunked_prefill_and_prefix_caching_args).
    enable_prefix_caching: bool = True
    # gpt-oss's sliding-window layers (config.json sliding_window 128); None: full attention only.
    sliding_window: int | None = 128
    step_base_s: float = 0.0055
    step_per_seq_s: float = 0.0008
    prefill_token_s: float = 0.00005
    startup_s: float = 120.0
    # vLLM's --max-loras with --enable-lora: distinct adapters one step may run; None: no LoRA.
    max_loras: int | None = None

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1 or self.max_num_batched_tokens < 1 or self.block_size < 1:
            raise ValueError("max_num_seqs, max_num_batched_tokens and block_size must be >= 1")
        if self.sequence_blocks > self.total_blocks:
            # vLLM refuses to start unless one request of max_model_len fits
            # (check_enough_kv_cache_memory; docs/sources.md, Sizing, vLLM #27508).
            raise ValueError(
                f"max_model_len {self.max_model_len} does not fit the KV cache of "
                f"{self.kv_cache_tokens} tokens ({self.total_blocks} blocks, "
                f"{self.sequence_blocks} needed)"
            )

    @property
    def total_blocks(self) -> int:
        return self.kv_cache_tokens // self.block_size

    @property
    def sequence_blocks(self) -> int:
        """Blocks one request of ``max_model_len`` tokens may hold at once."""
        return sequence_blocks(
            self.max_model_len,
            block_size=self.block_size,
            sliding_window=self.sliding_window,
            max_num_batched_tokens=self.max_num_batched_tokens,
        )


def sequence_blocks(
    max_model_len: int, *, block_size: int, sliding_window: int | None, max_num_batched_tokens: int
) -> int:
    """Blocks one request of ``max_model_len`` tokens may hold at once.

    vLLM ``FullAttentionSpec`` / ``SlidingWindowSpec.max_memory_usage_bytes``: every token's
    block, plus the window's ``sliding_window - 1`` tokens and a step's chunk, plus one.
    """
    full = blocks_for(max_model_len, block_size)
    if sliding_window is None:
        return full
    window = min(sliding_window - 1 + max_num_batched_tokens, max_model_len)
    return full + blocks_for(window, block_size) + 1


def blocks_for(tokens: int, block_size: int) -> int:
    return math.ceil(tokens / block_size)
