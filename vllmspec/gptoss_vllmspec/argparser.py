"""The ``vllm serve`` argparse parser, rebuilt from the dump with Python's own ``argparse``.

vLLM's parser is an ``argparse.ArgumentParser`` (``FlexibleArgumentParser`` in
``vllm/utils/argparse_utils.py``, which keeps argparse's defaults, ``allow_abbrev=True``
included); rebuilding it from the dumped actions lets argparse itself decide what vLLM's argparse
decides: unique prefixes of long flags (``--max-num-seq`` is ``--max-num-seqs``), ``--flag=value``,
``nargs``, ``BooleanOptionalAction``'s ``--no-`` form, choices and converter failures, with
argparse's own messages.

Each option gets ``default=SUPPRESS`` and a private ``dest``, so the namespace holds exactly the
options given; converters return a ``_Value`` that keeps the string as written next to the
converted value (choices compare, and messages print, the converted value, as in vLLM).
``-h/--help`` is an ordinary flag here (no help is printed). ``--lora-modules``' custom action
follows ``LoRAParserAction`` (``vllm/entrypoints/openai/cli_args.py`` in 0.17,
``vllm/entrypoints/launchers/cli_args.py`` in 0.32) for its JSON check only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, NoReturn

from gptoss_vllmspec.converters import Converter, converter_for
from gptoss_vllmspec.spec import CliSpec, OptionSpec


class Refusal(Exception):
    """argparse's ``error()``: the message it would print after ``<prog>: error: ``."""

    def __init__(self, message: str, flag: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.flag = flag
        self.exit_code = exit_code


class Value:
    """A converted option value that remembers the string it was converted from."""

    __slots__ = ("raw", "value")

    def __init__(self, raw: str, value: Any) -> None:
        self.raw = raw
        self.value = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Value):
            return bool(self.value == other.value)
        return bool(self.value == other)

    def __hash__(self) -> int:
        try:
            return hash(self.value)
        except TypeError:
            return id(self)

    def __repr__(self) -> str:
        return repr(self.value)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Refusal(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise Refusal(message or "", exit_code=status)


class _LoRAAction(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = [] if values is None or isinstance(values, str) else list(values)
        for item in items:
            text = item.value if isinstance(item, Value) else item
            if text in (None, ""):
                continue
            if "=" in text and "," not in text:
                if text.count("=") != 1:
                    raise Refusal("ValueError: too many values to unpack (expected 2)", exit_code=1)
                continue
            try:
                json.loads(text)
            except json.JSONDecodeError:
                parser.error(f"Invalid JSON format for --lora-modules: {text}")
        setattr(namespace, self.dest, values)


def _typed(convert: Converter) -> Converter:
    def typed(raw: str) -> Value:
        return Value(raw, convert(raw))

    typed.__name__ = getattr(convert, "__name__", "typed")
    return typed


def _boolean_option_strings(option: OptionSpec) -> list[str]:
    """The spellings vLLM passed to ``BooleanOptionalAction`` (it adds each ``--no-`` itself)."""
    given = set(option.option_strings)
    return [
        s
        for s in option.option_strings
        if not (s.startswith("--no-") and f"--{s.removeprefix('--no-')}" in given)
    ]


def _kwargs(option: OptionSpec, dest: str, pydantic: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS}
    action = option.action
    if action in ("help", "version", "store_true"):
        return {**kwargs, "action": "store_true"}
    if action in ("store_false", "count"):
        return {**kwargs, "action": action}
    if action in ("store_const", "append_const"):
        return {**kwargs, "action": action, "const": option.const}
    if action == "boolean_optional":
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    kwargs["action"] = _LoRAAction if "LoRAParserAction" in (option.custom_action or "") else action
    if option.nargs is not None:
        kwargs["nargs"] = option.nargs
    if option.const is not None:
        kwargs["const"] = option.const
    if option.value_type is not None:
        kwargs["type"] = _typed(converter_for(option.value_type, pydantic=pydantic))
    if option.choices is not None:
        values = option.choice_values
        kwargs["choices"] = list(values) if values is not None else list(option.choices)
    return kwargs


def build_parser(spec: CliSpec) -> tuple[argparse.ArgumentParser, dict[str, OptionSpec]]:
    """The parser, and the option behind each private ``dest``."""
    parser = _Parser(
        prog=spec.prog,
        usage=spec.usage.removeprefix("usage: ").rstrip("\n"),
        add_help=False,
        allow_abbrev=spec.allow_abbrev,
        exit_on_error=False,
    )
    pydantic = ".".join(str(spec.produced_by.get("pydantic", "2.12")).split(".")[:2])
    for positional in spec.positionals:
        parser.add_argument(positional.dest, nargs=positional.nargs, default=argparse.SUPPRESS)
    by_dest: dict[str, OptionSpec] = {}
    # In the order vLLM added them: argparse lists ambiguous prefix matches in that order.
    for index, option in enumerate(sorted(spec.options, key=lambda o: o.index)):
        dest = f"option_{index}"
        strings = (
            _boolean_option_strings(option)
            if option.action == "boolean_optional"
            else list(option.option_strings)
        )
        parser.add_argument(*strings, **_kwargs(option, dest, pydantic))
        by_dest[dest] = option
    return parser, by_dest
