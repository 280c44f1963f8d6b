"""How many GPUs a replica needs and what vLLM can do with them: a pure function of the model,
the GPU product and the serving options.

The test is the one vLLM applies at startup: after the weights, the runtime's own memory and
the LoRA adapters' buffers (``budget``, ``lora_memory``), the KV cache must hold at least one
sequence of ``max_model_len`` tokens, or the engine refuses to start.

The count chosen never exceeds the GPUs of the largest node of the product when the caller
knows it (``NodeLimit``, read from the nodes by the reconciler): a replica larger than every
node would stay Pending forever, so it is refused with ``NoNodeLargeEnough`` instead.

The CRD repeats this arithmetic in CEL so that the API server refuses what cannot fit; a test
runs both over every model, product and GPU count and requires the same answer and message.
CEL knows only the recipes' KV cache layouts: a spec whose ``extraArgs`` choose their own
(``--kv-cache-dtype``, ``--block-size``; ``recipes.KvCacheArgs``) passes the API server, and
this sizing, which counts them, is the check.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import NoNodeLargeEnough, SizingError
from gptoss_operator.placement.adapters import lora_limits
from gptoss_operator.placement.architectures import MAX_CONTEXT, GptOssModel, model_named
from gptoss_operator.placement.budget import (
    RUNTIME_OVERHEAD_MIB,
    MemoryBudget,
    memory_budget,
    sequence_kv_bytes,
)
from gptoss_operator.placement.gpus import GpuProduct, product_named
from gptoss_operator.placement.lora_memory import LoraSlots
from gptoss_operator.placement.recipes import AS_RECIPE, KvCacheArgs, Recipe, recipe_for
from gptoss_operator.placement.serving_args import kv_cache_args, max_num_seqs

__all__ = [
    "RUNTIME_OVERHEAD_MIB",
    "TENSOR_PARALLEL_SIZES",
    "LoraSlots",
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

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)  # divide the 8 KV heads; one node holds up to 8 GPUs
MIN_SUGGESTED_MAX_MODEL_LEN = 4096  # below this a reasoning model has no room to think
_MIB = 1024 * 1024


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
    def lora_gib(self) -> float:
        """The LoRA adapters' buffers on all the replica's GPUs (0 without adapters)."""
        return self.budget.lora_mib / 1024

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
    lora: LoraSlots | None = None,
    kv_cache: KvCacheArgs = AS_RECIPE,
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
            lora=lora,
            kv_cache=kv_cache,
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
    recipe = recipe_for(product).with_kv_cache(kv_cache)
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
    ``node_limit`` when it is known, with room for its LoRA adapters' buffers and the KV cache
    layout its ``extraArgs`` choose.

    Raises ``InvalidAdapters`` for adapters vLLM would refuse (``adapters.lora_limits``)."""
    lora = None
    if spec.adapters or spec.adapter_loading == "Runtime":
        lora = LoraSlots(*lora_limits(spec))
    return size(
        model_named(spec.model),
        product_named(spec.gpu.product),
        gpus=spec.gpu.count,
        max_model_len=spec.serving.max_model_len,
        gpu_memory_utilization=spec.serving.gpu_memory_utilization,
        max_num_batched_tokens=spec.serving.max_num_batched_tokens,
        node_limit=node_limit,
        max_num_seqs=max_num_seqs(spec),
        lora=lora,
        kv_cache=kv_cache_args(spec),
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
    lora = ""
    if budget.lora is not None:
        slots = budget.lora
        lora = (
            f" + {budget.lora_mib / 1024:.2f} LoRA buffers for spec.serving.maxLoras "
            f"{slots.max_loras} x maxLoraRank {slots.max_lora_rank}"
        )
        hints.append("lower spec.serving.maxLoras or spec.serving.maxLoraRank")
    if not hints:
        hints.append("choose a GPU product with more memory")
    return (
        f"{model.name} does not fit {n} x {product.name}: one replica needs "
        f"{budget.needed_mib / 1024:.2f} GiB ({budget.weights_mib / 1024:.2f} weights + "
        f"{budget.runtime_mib / 1024:.2f} runtime{lora} + {kv_gib:.2f} KV cache for one "
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
