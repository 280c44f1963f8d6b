"""The image's ``vllm serve`` accepts exactly the flags vLLM 0.17.0 accepts (``gptoss_vllmspec``)
and refuses the rest the way vLLM does: its usage error on stderr, exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gptoss_sim import cli
from gptoss_sim.vllm_shim import UsageError, main, simulator_args
from gptoss_vllmspec import load_cli


@pytest.mark.parametrize(
    "typo",
    [["--max-num-seqz", "4"], ["--enable-prefix-cacheing"], ["--stream_intervall=20"]],
    ids=["misspelt", "unknown-switch", "underscored-typo"],
)
def test_a_flag_vllm_does_not_know_is_refused_with_vllms_usage_error_and_status_2(
    typo: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "openai/gpt-oss-20b", "--port", "8000", *typo]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "vllm: error: unrecognized arguments: " in stderr
    assert stderr.startswith("usage: vllm ")
    with pytest.raises(UsageError) as refused:
        simulator_args(argv, {})
    assert stderr == load_cli().usage_error_text(refused.value)


def test_a_value_vllm_would_refuse_is_refused() -> None:
    with pytest.raises(UsageError, match="--max-num-seqs") as refused:
        simulator_args(["serve", "m", "--max-num-seqs", "many"], {})
    assert refused.value.exit_code == 2


def test_flags_vllm_accepts_but_the_simulator_ignores_still_start_it() -> None:
    argv = ["serve", "openai/gpt-oss-120b", "--tensor-parallel-size", "2", "--async-scheduling"]
    argv += ["--gpu-memory-utilization", "0.95", "--max-cudagraph-capture-size", "2048"]
    args = cli.parser().parse_args(simulator_args(argv, {}))
    assert args.model == "openai/gpt-oss-120b"


def test_the_image_entry_point_exits_2_on_a_bad_flag() -> None:
    code = "from gptoss_sim.vllm_shim import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "serve", "m", "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.endswith("vllm: error: unrecognized arguments: --no-such-flag\n")
