"""The dumped ``vllm serve`` parser, read from ``data/cli-<version>.json``.

Each option is one argparse action of the parser that ``vllm/entrypoints/cli/serve.py``
(``ServeSubcommand.subparser_init``) builds with ``make_arg_parser`` and
``EngineArgs.add_cli_args`` (``vllm/engine/arg_utils.py``), as ``vllmspec/dump.py`` found it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class ValueType:
    """The converter argparse calls on an option's value (vLLM's ``type=``), by behaviour."""

    name: str
    optional: bool = False
    wrapped: bool = False
    argparse_name: str | None = None
    dataclass: str | None = None
    dataclass_fields: frozenset[str] | None = None
    extra_keys: str | None = None
    human_readable_numbers: bool = False


@dataclass(frozen=True)
class OptionSpec:
    """One ``vllm serve`` option: every spelling argparse knows it by, and how it takes a value."""

    option_strings: tuple[str, ...]
    dest: str
    action: str
    custom_action: str | None
    nargs: str | int | None
    value_type: ValueType | None
    takes_value: bool
    choices: tuple[str, ...] | None
    choice_values: tuple[JsonScalar, ...] | None
    const: Any
    has_default: bool
    default: Any
    group: str
    deprecated: bool
    index: int

    @property
    def canonical(self) -> str:
        """The first long spelling (``--tensor-parallel-size`` for ``-tp``)."""
        return next((s for s in self.option_strings if s.startswith("--")), self.option_strings[0])


@dataclass(frozen=True)
class Sample:
    """An argument list vLLM's own parser was run on, and what it answered."""

    argv: tuple[str, ...]
    exit_code: int
    stderr: str | None
    exception: str | None
    set_dests: dict[str, str] | None


@dataclass(frozen=True)
class ParserFeatures:
    """What vLLM's ``FlexibleArgumentParser.parse_args`` does before argparse, per version."""

    model_flag_moved_to_positional: bool
    served_model_name_needs_positional: bool
    underscores_to_dashes: bool
    dash_O_optimization_level: bool
    dotted_json_keys: bool
    dotted_list_append: bool
    dotted_value_human_readable_int: bool
    config_file: bool
    task_hint: bool


@dataclass(frozen=True)
class CliSpec:
    """Everything dumped about one vLLM version's ``vllm serve`` parser."""

    version: str
    produced_by: dict[str, Any]
    prog: str
    usage: str
    top_prog: str
    top_usage: str
    allow_abbrev: bool
    features: ParserFeatures
    positionals: tuple[OptionSpec, ...]
    options: tuple[OptionSpec, ...]
    flag_count: int
    samples: tuple[Sample, ...]
    registries: dict[str, frozenset[str]]


def _value_type(raw: dict[str, Any] | None) -> ValueType | None:
    if raw is None:
        return None
    fields = raw.get("dataclass_fields")
    return ValueType(
        name=raw["name"],
        optional=bool(raw.get("optional", False)),
        wrapped=bool(raw.get("wrapped", False)),
        argparse_name=raw.get("argparse_name"),
        dataclass=raw.get("dataclass"),
        dataclass_fields=None if fields is None else frozenset(fields),
        extra_keys=raw.get("extra_keys"),
        human_readable_numbers=bool(raw.get("human_readable_numbers", False)),
    )


def _option(raw: dict[str, Any]) -> OptionSpec:
    choices = raw.get("choices")
    values = raw.get("choice_values")
    return OptionSpec(
        option_strings=tuple(raw["option_strings"]),
        dest=raw["dest"],
        action=raw["action"],
        custom_action=raw.get("custom_action"),
        nargs=raw.get("nargs"),
        value_type=_value_type(raw.get("type")),
        takes_value=bool(raw["takes_value"]),
        choices=None if choices is None else tuple(choices),
        choice_values=None if values is None else tuple(values),
        const=raw.get("const"),
        has_default="default" in raw,
        default=raw.get("default"),
        group=raw.get("group", ""),
        deprecated=bool(raw.get("deprecated", False)),
        index=int(raw.get("index", 0)),
    )


def _sample(raw: dict[str, Any]) -> Sample:
    return Sample(
        argv=tuple(raw["argv"]),
        exit_code=int(raw["exit_code"]),
        stderr=raw.get("stderr"),
        exception=raw.get("exception"),
        set_dests=raw.get("set"),
    )


def read_data(name: str) -> dict[str, Any]:
    """One of the package's JSON data files, by file name."""
    text = resources.files("gptoss_vllmspec").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def available_versions(kind: str) -> tuple[str, ...]:
    """The vLLM versions with a ``<kind>-<version>.json`` data file, oldest first."""
    folder = resources.files("gptoss_vllmspec").joinpath("data")
    names = [p.name for p in folder.iterdir() if p.name.startswith(f"{kind}-")]
    versions = [n.removeprefix(f"{kind}-").removesuffix(".json") for n in names]
    return tuple(sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit())))


@functools.cache
def load_cli_spec(version: str) -> CliSpec:
    """The dumped ``vllm serve`` parser of this vLLM version (``FileNotFoundError`` if none)."""
    raw = read_data(f"cli-{version}.json")
    return CliSpec(
        version=raw["vllm_version"],
        produced_by=raw["produced_by"],
        prog=raw["prog"],
        usage=raw["usage"],
        top_prog=raw["top_prog"],
        top_usage=raw["top_usage"],
        allow_abbrev=bool(raw["allow_abbrev"]),
        features=ParserFeatures(**raw["parser_features"]),
        positionals=tuple(_option(p) for p in raw["positionals"]),
        options=tuple(_option(o) for o in raw["options"]),
        flag_count=int(raw["flag_count"]),
        samples=tuple(_sample(s) for s in raw["samples"]),
        registries={k: frozenset(v) for k, v in raw.get("registries", {}).items()},
    )
