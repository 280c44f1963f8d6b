"""The vLLM recipe for gpt-oss on each GPU architecture, as published by the vLLM project.

Source: ``vllm-project/recipes``, ``OpenAI/GPT-OSS.md`` and ``GPT-OSS_Hopper.yaml`` as of 2026-08
(summarised in docs/sources.md, vLLM recipe). What each architecture gets:

* Hopper (H100): the keys of ``GPT-OSS_Hopper.yaml`` as flags: CUDA graphs captured up to 2048,
  8192 batched tokens, a stream interval of 20. Except one: the YAML also turns prefix caching
  off (``no-enable-prefix-caching``), a setting of its throughput benchmark of random prompts,
  which share no prefix. Serving keeps vLLM's default, prefix caching on, because multi-turn
  and agentic traffic resends its prefix every turn and the router sends each conversation to
  the pod that cached it (docs/routing.md). A deployment that wants it off adds
  ``--no-enable-prefix-caching`` to ``spec.serving.extraArgs``. The recipe's known
  limitation: gpt-oss-120b at tensor parallel size 1 runs out of memory with the defaults and
  needs ``--gpu-memory-utilization 0.95 --max-num-batched-tokens 1024``; at tensor parallel
  size 2 and above "set your gpu memory utilization below 0.95", so vLLM's default 0.9 is kept.
  The limitation is about H100 (80 and 94 GB cards); an H200's 141 GB holds 120b at tensor
  parallel size 1 with the defaults, so it gets the plain Hopper recipe.
* Blackwell (B200): the recipe's ``GPT-OSS_Blackwell.yaml``, chosen by its launch script for
  compute capability 10.0: the Hopper keys plus ``--kv-cache-dtype fp8`` and
  ``VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1`` (FlashInfer's MXFP4 x MXFP8 MoE kernels). An fp8
  KV cache stores one byte per element, half of bf16, which the sizing counts.
* Ampere (A100): plain ``vllm serve``; vLLM itself picks the Triton attention backend and the
  Marlin MXFP4 MoE kernels. No flags are added.
* Ada (L4): not covered by the recipe; treated like Ampere (plain ``vllm serve``).
* CDNA3 (MI300X, MI325X: both gfx942): the tuned configuration validated on vLLM 0.17.0:
  AITER unified attention, two compilation passes, ``--gpu-memory-utilization 0.95``,
  ``--block-size=64`` and three environment variables. ``HSA_NO_SCRATCH_RECLAIM=1`` is left
  out: the recipe needs it only on firmware older than MEC 177.

A deployment may choose its own KV cache layout in ``spec.serving.extraArgs``
(``--kv-cache-dtype``, ``--block-size``). Those come last on the command line, so vLLM takes
them over the recipe's, and the sizing counts them too (``KvCacheArgs``): ``fp8`` on a Hopper
card doubles what the cache holds, and ``auto`` on a Blackwell card halves it, which may no
longer leave room for one request of ``maxModelLen``.

The batched-token budget is always passed explicitly (8192 unless the recipe says otherwise,
"works well for most cases" per the recipe), because the sliding-window KV reservation and so
the sizing depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gptoss_operator.placement.gpus import Architecture, GpuProduct

__all__ = [
    "AS_RECIPE",
    "DEFAULT_BATCHED_TOKENS",
    "VLLM_DEFAULT_UTILIZATION",
    "KvCacheArgs",
    "Recipe",
    "recipe_for",
]

VLLM_DEFAULT_UTILIZATION = 0.9  # vLLM's own --gpu-memory-utilization default
DEFAULT_BATCHED_TOKENS = 8192  # GPT-OSS_Hopper.yaml max-num-batched-tokens
_TIGHT_UTILIZATION = 0.95  # recipe: 120b at TP 1 on H100; MI300X tuned configuration
_TIGHT_BATCHED_TOKENS = 1024  # recipe: 120b at TP 1 on H100
_H100_CLASS_GIB = 100  # the known-tight case is H100's (80 and 94 GB), not H200's 141 GB


@dataclass(frozen=True)
class KvCacheArgs:
    """The KV cache layout a deployment's own flags choose; None keeps the recipe's."""

    dtype: str | None = None  # --kv-cache-dtype: auto (the model's bf16), bfloat16, fp8, ...
    block_size: int | None = None  # --block-size

    @property
    def dtype_bytes(self) -> int | None:
        """Bytes per cached element: 1 for the fp8 formats, 2 for ``auto`` and ``bfloat16``
        (gpt-oss's weights and activations are bf16, which ``auto`` follows)."""
        if self.dtype is None:
            return None
        return 1 if self.dtype.startswith("fp8") else 2


AS_RECIPE = KvCacheArgs()  # no flag of the deployment's own: the recipe's KV cache


@dataclass(frozen=True)
class Recipe:
    """Flags and environment the recipe prescribes for one architecture."""

    architecture: Architecture
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    block_size: int = 16  # vLLM's default KV block size
    kv_cache_dtype_bytes: int = 2  # bf16 (vLLM's "auto" for gpt-oss); 1 with --kv-cache-dtype fp8
    tight_on_one_card: bool = False  # the recipe's known limitation applies (H100 class)

    def is_tight(self, model: str, tensor_parallel_size: int) -> bool:
        """Whether this is the recipe's known-tight case: 120b on one H100-class card."""
        return self.tight_on_one_card and model == "gpt-oss-120b" and tensor_parallel_size == 1

    def gpu_memory_utilization(self, model: str, tensor_parallel_size: int) -> float:
        """The ``--gpu-memory-utilization`` the recipe uses for this model and parallelism."""
        if self.architecture is Architecture.CDNA3 or self.is_tight(model, tensor_parallel_size):
            return _TIGHT_UTILIZATION
        return VLLM_DEFAULT_UTILIZATION

    def max_num_batched_tokens(self, model: str, tensor_parallel_size: int) -> int:
        """The ``--max-num-batched-tokens`` the recipe uses for this model and parallelism."""
        if self.is_tight(model, tensor_parallel_size):
            return _TIGHT_BATCHED_TOKENS
        return DEFAULT_BATCHED_TOKENS

    def with_kv_cache(self, chosen: KvCacheArgs) -> Recipe:
        """The KV cache vLLM runs with when the deployment's flags ``chosen`` follow these."""
        dtype_bytes = chosen.dtype_bytes
        return replace(
            self,
            kv_cache_dtype_bytes=self.kv_cache_dtype_bytes if dtype_bytes is None else dtype_bytes,
            block_size=self.block_size if chosen.block_size is None else chosen.block_size,
        )


_HOPPER = Recipe(
    Architecture.HOPPER,
    args=(
        "--max-cudagraph-capture-size",
        "2048",
        "--stream-interval",
        "20",
    ),
    env=(),
)
_BLACKWELL = Recipe(
    Architecture.BLACKWELL,
    # Spelt out, not built from Hopper's: the vLLM-flag tests read each recipe's literal args.
    args=(
        "--max-cudagraph-capture-size",
        "2048",
        "--stream-interval",
        "20",
        "--kv-cache-dtype",
        "fp8",
    ),
    env=(("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8", "1"),),
    kv_cache_dtype_bytes=1,
)
_AMPERE = Recipe(Architecture.AMPERE, args=(), env=())
_ADA = Recipe(Architecture.ADA, args=(), env=())
_CDNA3 = Recipe(
    Architecture.CDNA3,
    args=(
        "--attention-backend",
        "ROCM_AITER_UNIFIED_ATTN",
        "-cc.pass_config.fuse_rope_kvcache=True",
        "-cc.use_inductor_graph_partition=True",
        "--block-size=64",
    ),
    env=(
        ("AMDGCN_USE_BUFFER_OPS", "0"),
        ("VLLM_ROCM_USE_AITER", "1"),
        ("VLLM_ROCM_QUICK_REDUCE_QUANTIZATION", "INT4"),
    ),
    block_size=64,
)
_RECIPES = {r.architecture: r for r in (_HOPPER, _BLACKWELL, _AMPERE, _ADA, _CDNA3)}


def recipe_for(product: GpuProduct) -> Recipe:
    """The recipe for ``product``: its architecture's, with the H100 limitation on H100s."""
    recipe = _RECIPES[product.architecture]
    if product.architecture is Architecture.HOPPER and product.memory_gib < _H100_CLASS_GIB:
        return replace(recipe, tight_on_one_card=True)
    return recipe
