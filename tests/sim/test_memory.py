"""A simulated vLLM's KV cache is what vLLM leaves of its GPUs' memory, and it refuses to start
where vLLM does, in vLLM's words."""

from __future__ import annotations

import pytest

from gptoss_sim.memory import (
    CHECKPOINTS,
    MemoryPlan,
    Request,
    checkpoint_named,
    lora_buffer_bytes,
    refusal,
)

GIB = 1024**3
H100_GIB = 81559 / 1024  # what the driver reports for an H100 80GB HBM3
BIG, SMALL = CHECKPOINTS
BLOCK = 16


def test_120b_on_one_h100_at_0_95_leaves_the_published_1_71_gib_for_the_kv_cache() -> None:
    plan = MemoryPlan(BIG, H100_GIB, gpu_memory_utilization=0.95)
    assert plan.available_bytes / GIB == pytest.approx(1.71, abs=0.005)  # vllm #27508
    # a token of the 18 full-attention layers: 18 x 2 x 8 heads x 64 x 2 bytes
    assert plan.token_bytes == 36_864
    assert plan.kv_cache_tokens(BLOCK) == pytest.approx(1.71 * GIB / 36_864, rel=0.001)
    assert plan.kv_cache_tokens(BLOCK) % BLOCK == 0


def test_120b_on_one_h100_at_vllms_default_utilization_has_nothing_left_and_refuses() -> None:
    plan = MemoryPlan(BIG, H100_GIB)  # 0.9, as vllm #23278 ran it
    assert plan.available_bytes < 0
    said = refusal(plan, Request(8192, BLOCK, 1024))
    assert said is not None and said.startswith("No available memory for the cache blocks.")


def test_tensor_parallel_ranks_split_the_weights_and_the_kv_heads() -> None:
    one = MemoryPlan(BIG, H100_GIB, tensor_parallel_size=1, gpu_memory_utilization=0.95)
    two = MemoryPlan(BIG, H100_GIB, tensor_parallel_size=2, gpu_memory_utilization=0.95)
    assert two.weights_bytes == one.weights_bytes / 2
    assert two.token_bytes == one.token_bytes / 2
    gained = two.available_bytes - one.available_bytes
    assert gained == pytest.approx(33 * GIB)  # half of 66 GiB of weights
    assert two.kv_cache_tokens(BLOCK) > 2 * one.kv_cache_tokens(BLOCK)


def test_lora_buffers_are_taken_from_the_kv_cache() -> None:
    assert lora_buffer_bytes(BIG, 1, 16, 1) / 1024**2 == pytest.approx(2047.8, abs=0.05)
    assert lora_buffer_bytes(SMALL, 1, 16, 1) / 1024**2 == pytest.approx(352.7, abs=0.05)
    assert lora_buffer_bytes(BIG, 4, 16, 1) == 4 * lora_buffer_bytes(BIG, 1, 16, 1)
    assert lora_buffer_bytes(BIG, 1, 16, 2) < lora_buffer_bytes(BIG, 1, 16, 1)
    bare = MemoryPlan(SMALL, H100_GIB)
    adapted = MemoryPlan(SMALL, H100_GIB, lora=(2, 64))
    assert bare.available_bytes - adapted.available_bytes == lora_buffer_bytes(SMALL, 2, 64, 1)


def test_an_fp8_cache_holds_twice_the_tokens_in_the_same_memory() -> None:
    bf16 = MemoryPlan(SMALL, H100_GIB)
    fp8 = MemoryPlan(SMALL, H100_GIB, kv_cache_dtype_bytes=1)
    assert fp8.kv_cache_tokens(BLOCK) == pytest.approx(2 * bf16.kv_cache_tokens(BLOCK), abs=BLOCK)


def test_the_kv_cache_memory_and_block_count_flags_replace_the_measurement() -> None:
    plan = MemoryPlan(BIG, H100_GIB, kv_cache_memory_bytes=2 * GIB)
    assert plan.available_bytes == 2 * GIB
    assert plan.kv_cache_tokens(BLOCK) == 2 * GIB // (36_864 * BLOCK) * BLOCK
    blocks = MemoryPlan(BIG, H100_GIB, num_gpu_blocks_override=1000)
    assert blocks.kv_cache_tokens(BLOCK) == 1000 * BLOCK


def test_a_context_that_does_not_fit_is_refused_with_the_gib_and_the_longest_that_fits() -> None:
    plan = MemoryPlan(BIG, H100_GIB, gpu_memory_utilization=0.95)
    request = Request(131072, BLOCK, 1024)
    said = refusal(plan, request)
    assert said is not None
    assert said.startswith("To serve at least one request with the models's max seq len (131072)")
    assert "(4.54 GiB KV cache is needed" in said
    assert "available KV cache memory (1.71 GiB)" in said
    longest = int(said.split("estimated maximum model length is ")[1].split(".")[0])
    assert refusal(plan, Request(longest, BLOCK, 1024)) is None
    assert refusal(plan, Request(longest + BLOCK, BLOCK, 1024)) is not None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("openai/gpt-oss-120b", "gpt-oss-120b"),
        ("gpt-oss-20b", "gpt-oss-20b"),
        ("/models/hf/openai/GPT-OSS-20B/", "gpt-oss-20b"),
        ("/mnt/weights/support-v3", None),
        ("", None),
    ],
)
def test_a_checkpoint_is_known_by_the_name_its_path_ends_with(text: str, name: str | None) -> None:
    found = checkpoint_named(text)
    assert (found.name if found else None) == name
