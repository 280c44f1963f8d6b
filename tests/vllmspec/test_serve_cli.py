"""``ServeCli.parse`` reads a ``vllm serve`` command line as vLLM 0.17.0's parser does."""

from __future__ import annotations

import json

import pytest

from gptoss_vllmspec import (
    NEWEST_VERSION,
    PINNED_VERSION,
    ServeCli,
    UsageError,
    load_cli,
)

MODEL = "openai/gpt-oss-120b"


@pytest.fixture(scope="module")
def cli() -> ServeCli:
    return load_cli()


def refusal(cli: ServeCli, *argv: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        cli.parse([MODEL, *argv])
    return caught.value


def test_load_cli_defaults_to_the_pinned_version_and_caches_it(cli: ServeCli) -> None:
    assert cli.version == PINNED_VERSION == "0.17.0"
    assert load_cli(PINNED_VERSION) is cli
    assert load_cli(NEWEST_VERSION).version == NEWEST_VERSION == "0.32.0"


def test_the_model_is_the_positional_and_options_are_keyed_by_their_long_flag(
    cli: ServeCli,
) -> None:
    parsed = cli.parse([MODEL, "--port", "8000", "--enable-prefix-caching", "-tp", "2"])
    assert parsed.model == MODEL
    assert dict(parsed.values) == {
        "--port": "8000",
        "--enable-prefix-caching": True,
        "--tensor-parallel-size": "2",
    }
    assert parsed.get("--tensor-parallel-size") == "2"
    assert parsed.get("-tp") == "2"
    assert parsed.get("--max-num-seqs") is None


def test_a_misspelled_flag_is_refused_as_vllm_refuses_it(cli: ServeCli) -> None:
    error = refusal(cli, "--max-num-seqx", "4")
    assert isinstance(error, ValueError)
    assert str(error) == "unrecognized arguments: --max-num-seqx 4"
    assert error.flag == "--max-num-seqx"
    assert error.exit_code == 2
    assert cli.usage_error_text(error) == (
        "usage: vllm [-h] [-v] {chat,complete,serve,bench,collect-env,run-batch} ...\n"
        "vllm: error: unrecognized arguments: --max-num-seqx 4\n"
    )


def test_a_misspelled_flag_is_reported_as_written_with_underscores(cli: ServeCli) -> None:
    error = refusal(cli, "--max_num_seqx=4")
    assert str(error) == "unrecognized arguments: --max-num-seqx=4"
    assert error.flag == "--max_num_seqx"


def test_a_unique_prefix_of_a_flag_is_taken_for_it_as_argparse_does(cli: ServeCli) -> None:
    assert cli.parse([MODEL, "--max-num-seq", "4"]).values == {"--max-num-seqs": "4"}
    assert not cli.knows("--max-num-seq")


def test_an_ambiguous_prefix_is_refused(cli: ServeCli) -> None:
    error = refusal(cli, "--max-n", "4")
    assert str(error) == (
        "ambiguous option: --max-n could match --max-num-batched-tokens, --max-num-seqs, "
        "--max-num-partial-prefills"
    )
    assert error.flag == "--max-n"


def test_a_choice_vllm_does_not_offer_is_refused(cli: ServeCli) -> None:
    error = refusal(cli, "--kv-cache-dtype", "fp9")
    assert str(error).startswith(
        "argument --kv-cache-dtype: invalid choice: 'fp9' (choose from 'auto', 'bfloat16', "
    )
    assert error.flag == "--kv-cache-dtype"
    assert cli.usage_error_text(error) == (
        f"usage: vllm serve [model_tag] [options]\nvllm serve: error: {error}\n"
    )


def test_an_int_flag_refuses_a_value_that_is_not_an_int(cli: ServeCli) -> None:
    error = refusal(cli, "--max-num-seqs", "x")
    assert str(error) == "argument --max-num-seqs: invalid int value: 'x'"
    assert error.flag == "--max-num-seqs"
    assert str(refusal(cli, "--gpu-memory-utilization", "0.9x")) == (
        "argument --gpu-memory-utilization: invalid float value: '0.9x'"
    )


def test_a_flag_alias_is_reported_as_written(cli: ServeCli) -> None:
    error = refusal(cli, "-tp", "two")
    assert str(error) == "argument --tensor-parallel-size/-tp: invalid int value: 'two'"
    assert error.flag == "-tp"


def test_underscores_in_a_flag_name_are_read_as_dashes(cli: ServeCli) -> None:
    assert cli.parse([MODEL, "--max_num_seqs", "4"]).values == {"--max-num-seqs": "4"}
    assert cli.parse([MODEL, "--max_num_seqs=4"]).values == {"--max-num-seqs": "4"}
    assert cli.knows("--max_num_seqs")


def test_the_no_form_of_a_boolean_flag_sets_it_false_and_the_last_one_wins(
    cli: ServeCli,
) -> None:
    assert cli.parse([MODEL, "--no-enable-prefix-caching"]).values == {
        "--enable-prefix-caching": False
    }
    both = cli.parse([MODEL, "--no-enable-prefix-caching", "--enable-prefix-caching"])
    assert both.get("--enable-prefix-caching") is True
    assert cli.knows("--no-enable-prefix-caching")


def test_a_boolean_flag_refuses_an_explicit_value(cli: ServeCli) -> None:
    error = refusal(cli, "--enable-prefix-caching=yes")
    assert str(error) == (
        "argument --enable-prefix-caching/--no-enable-prefix-caching: "
        "ignored explicit argument 'yes'"
    )


def test_the_equals_form_gives_the_flag_its_value(cli: ServeCli) -> None:
    assert cli.parse([MODEL, "--block-size=64"]).get("--block-size") == "64"
    assert str(refusal(cli, "--block-size=7")).startswith(
        "argument --block-size: invalid choice: 7 (choose from 1, 8, 16"
    )


def test_a_flag_given_twice_keeps_the_last_value(cli: ServeCli) -> None:
    assert cli.parse([MODEL, "--port", "8000", "--port", "9000"]).get("--port") == "9000"


def test_multi_value_and_append_flags_give_lists(cli: ServeCli) -> None:
    parsed = cli.parse(
        [MODEL, "--served-model-name", "a", "b", "--middleware", "x.y", "--middleware", "z.w"]
    )
    assert parsed.get("--served-model-name") == ["a", "b"]
    assert parsed.get("--middleware") == ["x.y", "z.w"]


def test_a_flag_missing_its_value_is_refused(cli: ServeCli) -> None:
    assert str(refusal(cli, "--port")) == "argument --port: expected one argument"


def test_dotted_keys_are_merged_into_the_config_flags_json(cli: ServeCli) -> None:
    parsed = cli.parse(
        [
            MODEL,
            "-cc.pass_config.fuse_rope_kvcache=True",
            "-cc.use_inductor_graph_partition=True",
            "-cc.cudagraph_capture_sizes+",
            "1,2",
        ]
    )
    assert json.loads(str(parsed.get("--compilation-config"))) == {
        "pass_config": {"fuse_rope_kvcache": "True"},
        "use_inductor_graph_partition": "True",
        "cudagraph_capture_sizes": ["1", "2"],
    }
    assert parsed.values.keys() == {"--compilation-config"}


def test_dotted_keys_under_two_spellings_of_a_flag_are_not_merged_and_the_last_wins(
    cli: ServeCli,
) -> None:
    # vLLM groups dotted keys by the spelling before the first dot ("-cc" apart from
    # "--compilation-config") and appends each group as its own flag: argparse keeps the last.
    parsed = cli.parse([MODEL, "-cc.mode=3", "--compilation-config.cudagraph_mode", "FULL"])
    assert json.loads(str(parsed.get("--compilation-config"))) == {"cudagraph_mode": "FULL"}


def test_a_config_key_the_dataclass_does_not_have_is_refused(cli: ServeCli) -> None:
    error = refusal(cli, "-cc.no_such_key=1")
    assert str(error).startswith(
        "argument --compilation-config/-cc: 1 validation error for CompilationConfig\n"
        "no_such_key\n  Unexpected keyword argument [type=unexpected_keyword_argument"
    )
    assert error.flag == "-cc.no_such_key"


def test_a_config_flag_takes_a_json_object(cli: ServeCli) -> None:
    config = '{"cudagraph_mode": "FULL"}'
    assert cli.parse([MODEL, "-cc", config]).get("--compilation-config") == config
    assert "Input should be an object" in str(refusal(cli, "--compilation-config", "3"))


def test_lengths_take_vllms_human_readable_suffixes(cli: ServeCli) -> None:
    assert cli.parse([MODEL, "--max-model-len", "32k"]).get("--max-model-len") == "32k"
    assert cli.parse([MODEL, "--max-model-len", "auto"]).get("--max-model-len") == "auto"
    assert str(refusal(cli, "--max-model-len", "1.5K")) == (
        "argument --max-model-len: Decimals are not allowed with binary suffixes like K. "
        "Did you mean to use 1.5k instead?"
    )


def test_the_model_flag_is_moved_to_the_positional(cli: ServeCli) -> None:
    parsed = cli.parse(["--model", MODEL, "--port", "8000"])
    assert parsed.model == MODEL
    assert parsed.values == {"--port": "8000"}
    assert cli.parse(["--port", "8000"]).model is None


def test_a_served_model_name_without_a_positional_model_fails_as_vllm_does(
    cli: ServeCli,
) -> None:
    with pytest.raises(UsageError) as caught:
        cli.parse(["--served-model-name", "x"])
    assert caught.value.exit_code == 1
    assert caught.value.prog is None
    assert cli.usage_error_text(caught.value).startswith("ValueError: `model` should be")


def test_a_stray_positional_is_unrecognized_without_a_flag(cli: ServeCli) -> None:
    error = refusal(cli, "extra")
    assert str(error) == "unrecognized arguments: extra"
    assert error.flag is None


def test_cli_knows_every_spelling_of_a_flag(cli: ServeCli) -> None:
    for flag in ("--tensor-parallel-size", "-tp", "--compilation-config.mode", "--help"):
        assert cli.knows(flag), flag
    assert not cli.knows("--no-such-flag")
    option = cli.option("-tp")
    assert option is not None and option.canonical == "--tensor-parallel-size"


def test_the_newest_version_adds_a_hint_to_an_unknown_task_flag() -> None:
    newest = load_cli(NEWEST_VERSION)
    with pytest.raises(UsageError) as caught:
        newest.parse([MODEL, "--task", "embed"])
    assert str(caught.value).startswith("unrecognized arguments: --task embed\n\nHint: --task")
    with pytest.raises(UsageError) as pinned:
        load_cli().parse([MODEL, "--task", "embed"])
    assert str(pinned.value) == "unrecognized arguments: --task embed"


def test_the_lora_flags_parse_as_vllm_parses_them(cli: ServeCli) -> None:
    legal = '{"name": "legal", "path": "/adapters/legal"}'
    flags = ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "64"]
    parsed = cli.parse([MODEL, *flags, "--lora-modules", "sql=/adapters/sql", legal])
    assert parsed.get("--enable-lora") is True
    assert parsed.get("--max-loras") == "2"
    assert parsed.get("--max-lora-rank") == "64"
    assert parsed.get("--lora-modules") == ["sql=/adapters/sql", legal]


def test_a_max_lora_rank_vllm_does_not_offer_is_a_usage_error_listing_the_ranks(
    cli: ServeCli,
) -> None:
    error = refusal(cli, "--max-lora-rank", "24")
    assert error.flag == "--max-lora-rank"
    assert "invalid choice: 24" in str(error)
    assert "1, 8, 16, 32, 64, 128, 256, 320, 512" in str(error)
