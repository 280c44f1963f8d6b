"""The image's ``vllm serve`` passes on every flag that shapes serving, and the GPU it is told
it runs on, to the simulator."""

from __future__ import annotations

from gptoss_sim import cli
from gptoss_sim.vllm_config import VllmConfig
from gptoss_sim.vllm_shim import GPU_MEMORY_ENV, GPU_NAME_ENV, simulator_args


def config_for(argv: list[str], env: dict[str, str] | None = None) -> VllmConfig:
    args = cli.parser().parse_args(simulator_args(["serve", *argv], env or {}))
    return cli.vllm_config(args, {})


def test_stream_interval_and_block_size_reach_the_simulator() -> None:
    config = config_for(["/models/x", "--stream-interval", "20", "--block-size=64"])
    assert config.stream_interval == 20
    assert config.capacity.block_size == 64


def test_prefix_caching_is_on_unless_the_command_line_turns_it_off() -> None:
    assert config_for(["m"]).capacity.enable_prefix_caching
    assert config_for(["m", "--enable-prefix-caching"]).capacity.enable_prefix_caching
    assert not config_for(["m", "--no-enable-prefix-caching"]).capacity.enable_prefix_caching


def test_limits_and_prompt_token_details_reach_the_simulator() -> None:
    argv = ["m", "--max-num-seqs", "48", "--max-num-batched-tokens=4096", "--max-model-len", "8192"]
    config = config_for([*argv, "--enable-prompt-tokens-details"])
    capacity = config.capacity
    assert (capacity.max_num_seqs, capacity.max_num_batched_tokens) == (48, 4096)
    assert capacity.max_model_len == 8192
    assert config.enable_prompt_tokens_details


def test_every_served_model_name_is_served_and_the_model_argument_is_the_root() -> None:
    config = config_for(["/models/gpt-oss-20b", "--served-model-name", "gpt-oss-20b", "chat"])
    assert (config.model, config.aliases) == ("gpt-oss-20b", ("chat",))
    assert config.model_path == "/models/gpt-oss-20b"


def test_the_parsers_are_on_only_when_the_command_line_names_them() -> None:
    bare = config_for(["m"])
    assert (bare.tool_call_parser, bare.enable_auto_tool_choice, bare.reasoning_parser) == (
        None,
        False,
        None,
    )
    argv = ["m", "--tool-call-parser", "openai", "--enable-auto-tool-choice"]
    full = config_for([*argv, "--reasoning-parser", "openai_gptoss"])
    assert (full.tool_call_parser, full.enable_auto_tool_choice, full.reasoning_parser) == (
        "openai",
        True,
        "openai_gptoss",
    )


def test_the_gpu_named_in_the_environment_decides_vllms_default_batch_limits() -> None:
    l4 = {GPU_NAME_ENV: "NVIDIA L4", GPU_MEMORY_ENV: "22.49"}
    capacity = config_for(["m"], l4).capacity
    assert (capacity.max_num_seqs, capacity.max_num_batched_tokens) == (256, 2048)
    h100 = {GPU_NAME_ENV: "NVIDIA H100 80GB HBM3", GPU_MEMORY_ENV: "79.65"}
    assert config_for(["m"], h100).capacity.max_num_seqs == 1024
