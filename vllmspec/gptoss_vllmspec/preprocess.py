"""What vLLM does to ``argv`` before argparse sees it: ``FlexibleArgumentParser.parse_args``.

Follows ``vllm/utils/argparse_utils.py`` (0.17.0 and 0.32.0), step by step:

1. ``--model X`` / ``--model=X`` is moved to the front as the positional ``model_tag``;
   ``--served-model-name`` without a positional model (and no ``--config``) is a ``ValueError``.
2. In every token starting with ``--``, underscores before the first ``.`` (and before any ``=``)
   become dashes: ``--max_num_seqs`` is ``--max-num-seqs``.
3. ``-O3`` / ``-O=3`` become ``--optimization-level 3``; ``-O 3`` becomes
   ``--optimization-level 3`` when the next token is 0-3.
4. Dotted tokens starting with ``-`` (``--compilation-config.mode 3``, ``-cc.a.b=true``,
   ``--x.list+ 1,2``) are merged, per key, into one JSON object (values parsed as JSON when they
   are JSON, in 0.32 as human-readable integers when they are, else kept as strings) and appended
   at the end as ``<key> <json>``.

``--config FILE`` is not read (this package does no I/O): the flag is parsed like any other.
The warnings vLLM logs along the way (duplicate keys, the deprecated ``--model``) are not kept.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gptoss_vllmspec.converters import human_readable_int
from gptoss_vllmspec.errors import UsageError
from gptoss_vllmspec.spec import ParserFeatures


@dataclass
class Preprocessed:
    """The tokens argparse parses, each with the token the user wrote that it came from."""

    args: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    task_hint: bool = False

    def add(self, arg: str, origin: str) -> None:
        self.args.append(arg)
        self.origins.append(origin)


_DASH_KEY = re.compile(r"(?<=--)[^\.]*")


def _crash(exc: str) -> UsageError:
    return UsageError(exc, prog=None, exit_code=1)


def _move_model_flag(args: list[str]) -> list[str]:
    index = next((i for i, a in enumerate(args) if re.match(r"^--model(=.+|$)", a)), None)
    if index is None:
        return args
    if args[index] == "--model":
        if index + 1 >= len(args):
            raise _crash("IndexError: list index out of range")
        return [args[index + 1], *args[:index], *args[index + 2 :]]
    return [args[index].removeprefix("--model="), *args[:index], *args[index + 1 :]]


def _check_served_model_name(args: list[str]) -> None:
    if (
        args
        and args[0].startswith("-")
        and not any(re.match(r"^--config(=.+|$)", a) for a in args)
        and any(re.match(r"^--served[-_]model[-_]name(=.+|$)", a) for a in args)
    ):
        raise _crash(
            "ValueError: `model` should be provided as the first positional argument when "
            "using `vllm serve`. i.e. `vllm serve <model> --<arg> <value>`."
        )


def _dashes(arg: str) -> str:
    def repl(match: re.Match[str]) -> str:
        return match.group(0).replace("_", "-")

    if "=" in arg:
        key, value = arg.split("=", 1)
        return f"{_DASH_KEY.sub(repl, key, count=1)}={value}"
    return _DASH_KEY.sub(repl, arg, count=1)


def _first_pass(args: list[str], features: ParserFeatures) -> Preprocessed:
    out = Preprocessed()
    for i, arg in enumerate(args):
        if arg.startswith("--help="):
            out.add("--help", arg)  # vLLM keeps the keyword to filter its help text
        elif arg.startswith("--") and features.underscores_to_dashes:
            out.add(_dashes(arg), arg)
        elif features.dash_O_optimization_level and arg.startswith("-O") and arg != "-O":
            level = arg[3:] if arg[2] == "=" else arg[2:]
            out.add("--optimization-level", arg)
            out.add(level, arg)
        elif (
            features.dash_O_optimization_level
            and arg == "-O"
            and i + 1 < len(args)
            and args[i + 1] in {"0", "1", "2", "3"}
        ):
            out.add("--optimization-level", arg)
        else:
            out.add(arg, arg)
    return out


def _merge(original: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(original.get(key), dict):
            _merge(original[key], value)
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] += value
        else:
            original[key] = value


def _dotted_value(value_str: str, features: ParserFeatures) -> Any:
    try:
        return json.loads(value_str)
    except json.JSONDecodeError:
        if features.dotted_value_human_readable_int:
            try:
                return human_readable_int(value_str)
            except (ValueError, argparse.ArgumentTypeError):
                return value_str
        return value_str


def _fold_dotted(first: Preprocessed, features: ParserFeatures) -> Preprocessed:
    args = first.args
    delete: set[int] = set()
    dict_args: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    dict_origins: dict[str, str] = {}
    for i, arg in enumerate(args):
        if i in delete or not (arg.startswith("-") and "." in arg):
            continue
        if "=" in arg:
            arg, value_str = arg.split("=", 1)
            if "." not in arg:
                continue  # the '.' was only in the value
        else:
            if i + 1 >= len(args):
                raise _crash("IndexError: list index out of range")
            value_str = args[i + 1]
            delete.add(i + 1)
        if arg.endswith("+") and features.dotted_list_append:
            arg = arg[:-1]
            value_str = json.dumps(list(value_str.split(",")))
        key, *keys = arg.split(".")
        nested: Any = _dotted_value(value_str, features)
        for k in reversed(keys):
            nested = {k: nested}
        _merge(dict_args[key], nested)
        dict_origins.setdefault(key, first.origins[i].split("=", 1)[0])
        delete.add(i)
    out = Preprocessed(task_hint=first.task_hint)
    for i, (arg, origin) in enumerate(zip(args, first.origins, strict=True)):
        if i not in delete:
            out.add(arg, origin)
    for key, value in dict_args.items():
        out.add(key, dict_origins[key])
        out.add(json.dumps(value), dict_origins[key])
    return out


def preprocess(argv: list[str], features: ParserFeatures) -> Preprocessed:
    """``argv`` (what follows ``vllm serve``) as vLLM hands it to argparse."""
    args = list(argv)
    if features.model_flag_moved_to_positional:
        args = _move_model_flag(args)
    if features.served_model_name_needs_positional:
        _check_served_model_name(args)
    task_hint = features.task_hint and any(re.match(r"^--task(=.+|$)", a) for a in args)
    first = _first_pass(args, features)
    first.task_hint = task_hint
    if not features.dotted_json_keys:
        return first
    return _fold_dotted(first, features)
