"""The GPU a simulated vLLM "runs on", and the batch limits vLLM picks for it by default.

vLLM 0.17.0 ``vllm/engine/arg_utils.py`` (``EngineArgs.get_batch_defaults`` and
``_set_default_max_num_seqs_and_batched_tokens_args``), for ``vllm serve`` (usage context
``OPENAI_API_SERVER``) on a CUDA or ROCm GPU:

- a GPU with at least 70 GiB whose device name, lower-cased, does not contain ``"a100"`` (H100,
  H200, B200, MI300X): ``max_num_seqs`` 1024, ``max_num_batched_tokens`` 8192;
- any other GPU (A100, L4, L40S, ...), or one whose name and memory cannot be read:
  ``max_num_seqs`` 256, ``max_num_batched_tokens`` 2048.

Unless given, ``max_num_batched_tokens`` is then capped at ``max_num_seqs x max_model_len``
(chunked prefill is on for gpt-oss), and ``max_num_seqs`` at ``max_num_batched_tokens``.

vLLM reads the name and total memory from the driver (``CudaPlatform.get_device_name`` and
``get_device_total_memory``, NVML): e.g. "NVIDIA H100 80GB HBM3" with 81,559 MiB. NVIDIA's GPU
Feature Discovery publishes the same as node labels ``nvidia.com/gpu.product`` (spaces as
dashes) and ``nvidia.com/gpu.memory`` (MiB).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_GPU", "Gpu", "batch_defaults", "scheduler_limits"]

_LARGE_GPU_GIB = 70  # vLLM: device_memory >= 70 * GiB_bytes


@dataclass(frozen=True)
class Gpu:
    """A GPU as the driver names it, and its total memory in GiB."""

    name: str
    memory_gib: float

    @property
    def large(self) -> bool:
        """Whether vLLM gives it the large-GPU batch defaults."""
        return self.memory_gib >= _LARGE_GPU_GIB and "a100" not in self.name.lower()


# What the capacity defaults describe (gptoss_sim.capacity): one H100 80GB (81,559 MiB).
DEFAULT_GPU = Gpu("NVIDIA H100 80GB HBM3", 81_559 / 1024)


def batch_defaults(gpu: Gpu) -> tuple[int, int]:
    """vLLM's defaults for ``vllm serve`` on ``gpu``: (max_num_seqs, max_num_batched_tokens)."""
    return (1024, 8192) if gpu.large else (256, 2048)


def scheduler_limits(
    gpu: Gpu, max_num_seqs: int | None, max_num_batched_tokens: int | None, max_model_len: int
) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens): the given values, else vLLM's defaults."""
    default_seqs, default_tokens = batch_defaults(gpu)
    seqs = max_num_seqs if max_num_seqs is not None else default_seqs
    tokens = max_num_batched_tokens if max_num_batched_tokens is not None else default_tokens
    if max_num_batched_tokens is None:
        tokens = min(seqs * max_model_len, tokens)
    if max_num_seqs is None:
        seqs = min(seqs, tokens)
    return seqs, tokens
