"""The batch limits vLLM 0.17.0 picks when ``--max-num-seqs`` / ``--max-num-batched-tokens`` are
not given depend on the GPU (``vllm/engine/arg_utils.py``, ``get_batch_defaults``)."""

from __future__ import annotations

import pytest

from gptoss_sim import cli
from gptoss_sim.gpu import Gpu, scheduler_limits

H100 = Gpu("NVIDIA H100 80GB HBM3", 81_559 / 1024)
A100_80 = Gpu("NVIDIA A100-SXM4-80GB", 81_920 / 1024)
L4 = Gpu("NVIDIA L4", 23_034 / 1024)
MI300X = Gpu("AMD Instinct MI300X", 196_608 / 1024)
UNKNOWN = Gpu("", 0.0)  # vLLM's fallback when the device cannot be queried


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        (H100, (1024, 8192)),
        (MI300X, (1024, 8192)),
        (A100_80, (256, 2048)),
        (L4, (256, 2048)),
        (UNKNOWN, (256, 2048)),
    ],
    ids=["h100", "mi300x", "a100-80gb", "l4", "unknown"],
)
def test_only_gpus_of_70_gib_or_more_that_are_not_a100s_get_1024_sequences(
    gpu: Gpu, expected: tuple[int, int]
) -> None:
    assert scheduler_limits(gpu, None, None, max_model_len=32_768) == expected


def test_given_limits_win_and_the_defaults_are_capped_by_each_other() -> None:
    assert scheduler_limits(L4, 64, 4096, max_model_len=32_768) == (64, 4096)
    # Batched tokens default at most max_num_seqs x max_model_len ...
    assert scheduler_limits(H100, 4, None, max_model_len=1_000) == (4, 4_000)
    # ... and max_num_seqs defaults at most max_num_batched_tokens.
    assert scheduler_limits(H100, None, 512, max_model_len=32_768) == (512, 512)


def _capacity(*argv: str) -> tuple[int, int]:
    config = cli.vllm_config(cli.parser().parse_args(["vllm", *argv]), {})
    return config.capacity.max_num_seqs, config.capacity.max_num_batched_tokens


def test_the_simulator_applies_vllms_rule_for_the_gpu_it_is_told_it_runs_on() -> None:
    a100 = ("--gpu-name", "NVIDIA A100-SXM4-80GB", "--gpu-memory-gib", "80")
    assert _capacity(*a100) == (256, 2048)
    assert _capacity(*a100, "--max-num-seqs", "512") == (512, 2048)
    assert _capacity("--max-num-batched-tokens", "1024") == (1024, 1024)
    assert _capacity() == (1024, 8192)  # an H100 80GB unless told otherwise


def test_the_simulator_reads_vllms_environment_variables() -> None:
    args = cli.parser().parse_args(["vllm"])
    env = {
        "VLLM_KEEP_ALIVE_ON_ENGINE_DEATH": "1",
        "VLLM_SYSTEM_START_DATE": "2026-01-02",
        "VLLM_ENABLE_RESPONSES_API_STORE": "1",
        "VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS": "1",
    }
    config = cli.vllm_config(args, env)
    assert config.keep_alive_on_engine_death and config.responses_store
    assert config.harmony_system_instructions
    assert config.system_start_date == "2026-01-02"
    plain = cli.vllm_config(args, {"VLLM_KEEP_ALIVE_ON_ENGINE_DEATH": "0"})
    assert not plain.keep_alive_on_engine_death and not plain.responses_store
    assert not plain.harmony_system_instructions
