"""Every argument list the dump ran through vLLM's real parser gets vLLM's answer here too."""

from __future__ import annotations

import pytest

from gptoss_vllmspec import NEWEST_VERSION, PINNED_VERSION, UsageError, load_cli
from gptoss_vllmspec.spec import Sample, load_cli_spec

VERSIONS = (PINNED_VERSION, NEWEST_VERSION)

# pydantic words invalid JSON differently from Python's json module: compared up to the wording.
_APPROXIMATE_MESSAGE = "  Invalid JSON: "


def _samples() -> list[object]:
    return [
        pytest.param(version, sample, id=f"{version}:{' '.join(sample.argv)}")
        for version in VERSIONS
        for sample in load_cli_spec(version).samples
        # --config names a YAML file that vLLM reads; this package reads no files.
        if "--config" not in sample.argv
    ]


@pytest.mark.parametrize(("version", "sample"), _samples())
def test_a_command_line_gets_the_answer_vllms_parser_gave(version: str, sample: Sample) -> None:
    cli = load_cli(version)
    try:
        parsed = cli.parse(list(sample.argv))
    except UsageError as error:
        assert error.exit_code == sample.exit_code, str(error)
        if sample.exit_code == 1:
            assert sample.exception is not None
            assert cli.usage_error_text(error).rstrip("\n") == sample.exception
            return
        text = cli.usage_error_text(error)
        assert sample.stderr is not None
        if _APPROXIMATE_MESSAGE in sample.stderr:
            assert (
                text.split(_APPROXIMATE_MESSAGE)[0] == sample.stderr.split(_APPROXIMATE_MESSAGE)[0]
            )
        else:
            assert text == sample.stderr
        return
    assert sample.exit_code == 0, sample.stderr or sample.exception
    given = {cli.options[flag].dest for flag in parsed.values}
    if parsed.model is not None:
        given.add("model_tag")
    # vLLM's namespace shows what differs from a default; ours, everything given.
    assert set(sample.set_dests or {}) <= given


def test_the_samples_cover_both_answers_for_both_versions() -> None:
    for version in VERSIONS:
        codes = {s.exit_code for s in load_cli_spec(version).samples}
        assert codes == {0, 1, 2}
