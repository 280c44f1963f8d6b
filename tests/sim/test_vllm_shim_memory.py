"""On a GPU whose memory it is told, the image's ``vllm serve`` sizes the KV cache as vLLM
would from the command line, and exits with vLLM's error where vLLM would not start."""

from __future__ import annotations

import pytest

from gptoss_sim import cli
from gptoss_sim.memory import CHECKPOINTS, MemoryPlan
from gptoss_sim.vllm_config import VllmConfig
from gptoss_sim.vllm_shim import CHECKPOINT_ENV, GPU_MEMORY_ENV, GPU_NAME_ENV, simulator_args

H100 = {GPU_NAME_ENV: "NVIDIA H100 80GB HBM3", GPU_MEMORY_ENV: "79.65"}
BIG, SMALL = CHECKPOINTS


def config_for(argv: list[str], env: dict[str, str]) -> VllmConfig:
    args = cli.parser().parse_args(simulator_args(["serve", *argv], env))
    return cli.vllm_config(args, {})


def test_the_kv_cache_is_what_the_gpus_memory_leaves_at_the_command_lines_flags() -> None:
    argv = ["openai/gpt-oss-120b", "--tensor-parallel-size", "2"]
    argv += ["--gpu-memory-utilization", "0.92", "--max-model-len", "131072"]
    capacity = config_for(argv, H100).capacity
    plan = MemoryPlan(BIG, 79.65, tensor_parallel_size=2, gpu_memory_utilization=0.92)
    assert capacity.kv_cache_tokens == plan.kv_cache_tokens(capacity.block_size)
    assert capacity.kv_cache_tokens > 10 * 131072  # far past the two sequences of no GPU
    fp8 = config_for([*argv, "--kv-cache-dtype", "fp8_e4m3"], H100).capacity
    assert fp8.kv_cache_tokens == pytest.approx(2 * capacity.kv_cache_tokens, rel=0.001)


def test_a_fine_tunes_checkpoint_comes_from_the_environment_and_its_adapters_take_memory() -> None:
    argv = ["/mnt/weights/support-v3", "--served-model-name", "support"]
    env = {**H100, CHECKPOINT_ENV: "gpt-oss-20b"}
    bare = config_for(argv, env).capacity
    assert bare.max_model_len == 131072  # the checkpoint's context, as vLLM defaults it
    assert bare.kv_cache_tokens == MemoryPlan(SMALL, 79.65).kv_cache_tokens(bare.block_size)
    adapted = config_for([*argv, "--enable-lora", "--max-loras", "4"], env).capacity
    expected = MemoryPlan(SMALL, 79.65, lora=(4, 16)).kv_cache_tokens(bare.block_size)
    assert adapted.kv_cache_tokens == expected < bare.kv_cache_tokens


def test_without_a_gpu_or_a_known_checkpoint_the_cache_holds_two_full_sequences() -> None:
    argv = ["--max-model-len", "65536"]
    no_gpu = config_for(["openai/gpt-oss-120b", *argv], {}).capacity
    unknown = config_for(["/mnt/weights/support-v3", *argv], H100).capacity
    assert no_gpu.kv_cache_tokens == unknown.kv_cache_tokens == 2 * 65536


def test_a_command_line_vllm_could_not_start_exits_with_vllms_error() -> None:
    argv = ["serve", "openai/gpt-oss-120b", "--gpu-memory-utilization", "0.95"]
    argv += ["--max-num-batched-tokens", "1024", "--max-model-len", "131072"]
    args = cli.parser().parse_args(simulator_args(argv, H100))
    with pytest.raises(SystemExit) as exited:
        cli.build(args, {})
    said = str(exited.value.code)
    assert said.startswith("vllm: To serve at least one request with the models's max seq len")
    assert "(1.71 GiB)" in said and "estimated maximum model length is" in said
    at_default = simulator_args(["serve", "openai/gpt-oss-120b", "--max-model-len", "8192"], H100)
    with pytest.raises(SystemExit, match="No available memory for the cache blocks"):
        cli.build(cli.parser().parse_args(at_default), {})
