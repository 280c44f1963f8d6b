"""How many GPUs a replica needs and what vLLM can do with them: a pure function of the model,
the GPU product and the serving options.

The test is the one vLLM applies at startup: after the weights and the runtime's own memory,
the KV cache must hold at least one sequence of ``max_model_len`` tokens, or the engine refuses
to start. Per replica of ``n`` GPUs (tensor parallel size ``n``):

    available = n x gpu_memory_utilization x memory per GPU
    needed    = weights + n x runtime overhead + KV bytes of one full-length sequence

KV of one sequence (docs/sources.md, Sizing; vLLM ``kv_cache_interface.py``): the
full-attention layers reserve ``ceil(max_model_len / block)`` blocks; each sliding-window layer
reserves ``ceil(min(window - 1 + max_num_batched_tokens, max_model_len) / block) + 1`` blocks.

Runtime overhead (activations, CUDA graphs, allocator and context memory) is derived from the
one published breakdown: gpt-oss-120b on one H100 at utilization 0.95 with 1024 batched tokens
left 1.71 GiB for KV (vllm #27508), so per GPU it is
0.95 x 81559 MiB - 66 GiB of weights - 1.71 GiB = 8146 MiB. The two models share hidden size,
attention heads and experts per token (their ``config.json``; docs/sources.md, Sizing), so the
same figure is used for gpt-oss-20b.

A KV cache in fp8 (the Blackwell recipe) stores one byte per element, half the bf16 bytes.

The count chosen never exceeds the GPUs of the largest node of the product when the caller
knows it (``NodeLimit``, read from the nodes by the reconciler): a replica larger than every
node would stay Pending forever, so it is refused with ``NoNodeLargeEnough`` instead.

The CRD repeats this arithmetic in CEL so that the API server refuses what cannot fit; a test
runs both over every model, product and GPU count and requires the same answer and message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_operator.api import GptOssDeploymentSpec
from gptoss_operator.errors import NoNodeLargeEnough, SizingError
from gptoss_operator.placement.architectures import MAX_CONTEXT, GptOssModel, model_named
from gptoss_operator.placement.gpus import GpuProduct, product_named
from gptoss_operator.placement.recipes import Recipe, recipe_for
from gptoss_operator.placement.serving_args import max_num_seqs

__all__ = [
    "RUNTIME_OVERHEAD_MIB",
    "TENSOR_PARALLEL_SIZES",
    "MemoryBudget",
    "NodeLimit",
    "Sizing",
    "longest_fitting_len",
    "memory_budget",
    "misfit_message",
    "sequence_kv_bytes",
    "size",
    "size_spec",
]

RUNTIME_OVERHEAD_MIB = 8146.0  # per GPU; derivation in the module docstring
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)  # divide the 8 KV heads; one node holds up to 8 GPUs
MIN_SUGGESTED_MAX_MODEL_LEN = 4096  # below this a reasoning model has no room to think
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

    @property
    def sequence_kv_bytes(self) -> int:
        return self.full_kv_bytes + self.window_kv_bytes

    @property
    def needed_mib(self) -> float:
        return self.weights_mib + self.runtime_mib + self.sequence_kv_bytes / _MIB

    @property
    def fits(self) -> bool:
        return self.available_mib >= self.needed_mib

    @property
    def kv_cache_mib(self) -> float:
        """What is left for the KV cache once weights and runtime are in (may be negative)."""
        return self.available_mib - self.weights_mib - self.runtime_mib

    @property
    def full_length_sequences(self) -> int:
        """How many sequences of the full ``max_model_len`` the KV cache holds at once."""
        if self.kv_cache_mib <= 0:
            return 0
        return math.floor(self.kv_cache_mib * _MIB / self.sequence_kv_bytes)


@dataclass(frozen=True)
class NodeLimit:
    """The largest node of a GPU product: its name and its allocatable GPUs."""

    node: str
    gpus: int
    resource: str

    @property
    def tensor_parallel_limit(self) -> int:
        """The largest tensor parallel size one such node holds (0 if none)."""
        return max((n for n in TENSOR_PARALLEL_SIZES if n <= self.gpus), default=0)


@dataclass(frozen=True)
class Sizing:
    """What the operator runs: parallelism, vLLM's memory flags, and what they buy."""

    model: GptOssModel
    product: GpuProduct
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    max_num_batched_tokens: int
    budget: MemoryBudget
    recipe: Recipe
    max_num_seqs: int = 0  # vLLM's --max-num-seqs: the spec's, else vLLM's default per card

    @property
    def kv_cache_gib(self) -> float:
        return self.budget.kv_cache_mib / 1024

    @property
    def max_full_length_sequences(self) -> int:
        return self.budget.full_length_sequences

    @property
    def vllm_args(self) -> tuple[str, ...]:
        """The sized flags followed by the recipe's flags for this architecture."""
        return (
            "--tensor-parallel-size",
            str(self.tensor_parallel_size),
            "--max-model-len",
            str(self.max_model_len),
            "--gpu-memory-utilization",
            str(self.gpu_memory_utilization),
            "--max-num-batched-tokens",
            str(self.max_num_batched_tokens),
            *self.recipe.args,
        )

    @property
    def env(self) -> dict[str, str]:
        return dict(self.recipe.env)


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
) -> MemoryBudget:
    """The memory budget of one replica on ``gpus`` cards, with the recipe's defaults."""
    recipe = recipe_for(product)
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
    )


def size(
    model: GptOssModel,
    product: GpuProduct,
    *,
    gpus: int | None = None,
    max_model_len: int = MAX_CONTEXT,
    gpu_memory_utilization: float | None = None,
    max_num_batched_tokens: int | None = None,
    node_limit: NodeLimit | None = None,
    max_num_seqs: int | None = None,
) -> Sizing:
    """Size one replica; with ``gpus`` unset, take the fewest GPUs that fit and that the
    largest node of the product (``node_limit``, when known) holds.

    Raises ``SizingError`` naming the memory needed and available, and what to change;
    ``NoNodeLargeEnough`` when the replica fits its GPUs but no node has that many.
    """
    if max_model_len > model.max_context:
        raise SizingError(
            f"max model len {max_model_len} exceeds the {model.max_context}-token context "
            f"window of {model.name}"
        )
    if gpus is not None and gpus not in TENSOR_PARALLEL_SIZES:
        raise SizingError(f"a replica runs on 1, 2, 4 or 8 GPUs, not {gpus}")
    budgets = {
        n: memory_budget(
            model,
            product,
            gpus=n,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            max_num_batched_tokens=max_num_batched_tokens,
        )
        for n in TENSOR_PARALLEL_SIZES
    }
    fitting = [n for n, b in budgets.items() if b.fits]
    limit = (
        node_limit.tensor_parallel_limit if node_limit is not None else TENSOR_PARALLEL_SIZES[-1]
    )
    placeable = [n for n in fitting if n <= limit]
    chosen = gpus if gpus is not None else (placeable or fitting or [TENSOR_PARALLEL_SIZES[-1]])[0]
    if chosen not in fitting:
        raise SizingError(misfit_message(model, product, budgets[chosen], max_model_len, fitting))
    if node_limit is not None and chosen > node_limit.gpus:
        raise NoNodeLargeEnough(
            too_large_message(model, product, chosen, node_limit, budgets.get(limit), placeable)
        )
    recipe = recipe_for(product)
    budget = budgets[chosen]
    return Sizing(
        model=model,
        product=product,
        tensor_parallel_size=chosen,
        max_model_len=max_model_len,
        gpu_memory_utilization=budget.gpu_memory_utilization,
        max_num_batched_tokens=(
            max_num_batched_tokens or recipe.max_num_batched_tokens(model.name, chosen)
        ),
        budget=budget,
        recipe=recipe,
        max_num_seqs=max_num_seqs or product.vllm_default_max_num_seqs,
    )


def size_spec(spec: GptOssDeploymentSpec, node_limit: NodeLimit | None = None) -> Sizing:
    """Size one replica of a ``GptOssDeployment`` as its spec asks, on nodes no larger than
    ``node_limit`` when it is known."""
    return size(
        model_named(spec.model),
        product_named(spec.gpu.product),
        gpus=spec.gpu.count,
        max_model_len=spec.serving.max_model_len,
        gpu_memory_utilization=spec.serving.gpu_memory_utilization,
        max_num_batched_tokens=spec.serving.max_num_batched_tokens,
        node_limit=node_limit,
        max_num_seqs=max_num_seqs(spec),
    )


def longest_fitting_len(model: GptOssModel, budget: MemoryBudget) -> int:
    """The longest ``max_model_len`` (whole KV blocks) that fits this budget; 0 if none.

    The sliding-window reservation is kept at its size for the current length, which can only
    overstate it, so the length returned always fits.
    """
    spare_bytes = budget.kv_cache_mib * _MIB - budget.window_kv_bytes
    if spare_bytes <= 0:
        return 0
    block_bytes = model.full_attention_layers * budget.kv_bytes_per_layer_token * budget.block_size
    return (int(spare_bytes) // block_bytes) * budget.block_size


def misfit_message(
    model: GptOssModel,
    product: GpuProduct,
    budget: MemoryBudget,
    max_model_len: int,
    fitting: list[int],
) -> str:
    """Why ``model`` does not fit and what to change; the CRD's CEL message says the same."""
    n = budget.gpus
    kv_gib = budget.sequence_kv_bytes / (1024 * _MIB)
    hints = [f"set spec.gpu.count to {k}" for k in fitting if k > n][:1]
    longest = longest_fitting_len(model, budget)
    if longest >= MIN_SUGGESTED_MAX_MODEL_LEN:
        hints.append(f"lower spec.serving.maxModelLen to {longest}")
    if not hints:
        hints.append("choose a GPU product with more memory")
    return (
        f"{model.name} does not fit {n} x {product.name}: one replica needs "
        f"{budget.needed_mib / 1024:.2f} GiB ({budget.weights_mib / 1024:.2f} weights + "
        f"{budget.runtime_mib / 1024:.2f} runtime + {kv_gib:.2f} KV cache for one "
        f"{max_model_len}-token sequence) but {n} x {product.name} at gpuMemoryUtilization "
        f"{budget.gpu_memory_utilization:.2f} gives {budget.available_mib / 1024:.2f} GiB; "
        + " or ".join(hints)
    )


def too_large_message(
    model: GptOssModel,
    product: GpuProduct,
    needed: int,
    limit: NodeLimit,
    largest_budget: MemoryBudget | None,
    placeable: list[int],
) -> str:
    """Why a replica of ``needed`` GPUs has no node, naming the largest one, and what to do."""
    hints = [f"set spec.gpu.count to {k}" for k in placeable[-1:]]  # the nearest that fits
    if not hints and largest_budget is not None:
        longest = longest_fitting_len(model, largest_budget)
        if longest >= MIN_SUGGESTED_MAX_MODEL_LEN:
            hints.append(
                f"lower spec.serving.maxModelLen to {longest} to fit {largest_budget.gpus} GPUs"
            )
    hints.append(f"add {product.name} nodes with {needed} GPUs")
    if not placeable:
        hints.append("choose a GPU product with more memory")
    return (
        f"one replica of {model.name} needs {needed} x {product.name} but the largest "
        f"{product.name} node, {limit.node}, has {limit.gpus} allocatable {limit.resource}; "
        + " or ".join(hints)
    )
