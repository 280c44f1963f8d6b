"""How ``dump.py`` describes each argparse action of vLLM's ``vllm serve`` parser as JSON.

The converters vLLM passes as ``type=`` are closures of its helpers in
``vllm/engine/arg_utils.py`` (``optional_type``, ``parse_type``, ``parse_dataclass``, lambdas);
they are named here by what they are, reading the closure cells and, for lambdas, their source.
``parser_features`` reads ``FlexibleArgumentParser.parse_args`` (``vllm/utils/argparse_utils.py``)
for the rewrites it performs before argparse runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
from typing import Any


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


_ACTION_KINDS = {
    argparse._StoreAction: "store",
    argparse._StoreConstAction: "store_const",
    argparse._StoreTrueAction: "store_true",
    argparse._StoreFalseAction: "store_false",
    argparse._AppendAction: "append",
    argparse._AppendConstAction: "append_const",
    argparse._CountAction: "count",
    argparse._HelpAction: "help",
    argparse._VersionAction: "version",
    argparse.BooleanOptionalAction: "boolean_optional",
    argparse._ExtendAction: "extend",
}


def _action_kind(action: argparse.Action) -> tuple[str, str | None]:
    """The argparse action kind, and the custom class name when vLLM subclasses one."""
    cls = type(action)
    if cls in _ACTION_KINDS:
        return _ACTION_KINDS[cls], None
    custom = f"{cls.__module__}.{cls.__qualname__}"
    for base in cls.__mro__[1:]:
        if base in _ACTION_KINDS:
            return _ACTION_KINDS[base], custom
    # A plain argparse.Action subclass stores what its __call__ decides; argparse gives it the
    # values exactly like a store action.
    return "store", custom


def _inner_callable(fn: Any, name: str) -> Any:
    """The callable captured as ``name`` in a closure made by vLLM's type helpers."""
    if fn.__closure__ is None:
        return None
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__, strict=True))
    cell = cells.get(name)
    return None if cell is None else cell.cell_contents


def _describe_type(fn: Any) -> dict[str, Any]:
    """Name the converter argparse calls on a value: builtins, or vLLM's helper by behaviour."""
    if fn is None:
        return {"name": "str", "converter": None}
    qualname = getattr(fn, "__qualname__", repr(fn))
    module = getattr(fn, "__module__", None)
    converter = f"{module}.{qualname}"
    base: dict[str, Any] = {"converter": converter, "argparse_name": getattr(fn, "__name__", None)}
    if fn in (int, float, str):
        return {"name": fn.__name__, "converter": None}
    if fn is json.loads:
        return {**base, "name": "json"}
    if qualname.endswith("optional_type.<locals>._optional_type"):
        inner = _describe_type(_inner_callable(fn, "return_type"))
        return {**inner, "optional": True, "converter": converter}
    if qualname.endswith("parse_type.<locals>._parse_type"):
        inner = _describe_type(_inner_callable(fn, "return_type"))
        return {**inner, "wrapped": True, "converter": converter}
    if qualname.endswith("parse_dataclass"):
        dataclass = fn.__defaults__[0] if fn.__defaults__ else None
        source = inspect.getsource(fn)
        described = {
            **base,
            "name": "dataclass_json",
            "human_readable_numbers": "_expand_json_human_readable_numbers" in source,
        }
        if dataclass is not None:
            described["dataclass"] = f"{dataclass.__module__}.{dataclass.__qualname__}"
            described["dataclass_fields"] = sorted(
                f.name for f in dataclasses.fields(dataclass) if f.init
            )
            extra = getattr(dataclass, "__pydantic_config__", {}).get("extra")
            described["extra_keys"] = extra if isinstance(extra, str) else None
        return described
    if qualname in ("union_dict_and_str", "human_readable_int", "human_readable_int_or_auto"):
        return {**base, "name": qualname}
    if qualname.endswith("<lambda>"):
        source = " ".join(inspect.getsource(fn).split())
        if 's.lower().replace("-", "_")' in source:
            return {**base, "name": "lower_underscore"}
        if "device_id.isdigit()" in source:
            return {**base, "name": "comma_list"}
        return {**base, "name": "unknown", "source": source}
    return {**base, "name": "unknown"}


def group_titles(parser: argparse.ArgumentParser) -> dict[int, str]:
    titles: dict[int, str] = {}
    for group in parser._action_groups:
        for action in group._group_actions:
            titles[id(action)] = group.title or ""
    return titles


def describe_action(
    action: argparse.Action, group: str, deprecated: set[argparse.Action]
) -> dict[str, Any]:
    kind, custom = _action_kind(action)
    entry: dict[str, Any] = {
        "option_strings": list(action.option_strings),
        "dest": action.dest,
        "action": kind,
        "custom_action": custom,
        "nargs": action.nargs,
        "type": _describe_type(action.type),
        "group": group,
        "required": bool(action.required),
        "deprecated": action in deprecated or bool(getattr(action, "deprecated", False)),
        "metavar": action.metavar if isinstance(action.metavar, str | None) else None,
    }
    takes_value = action.nargs != 0 and kind not in (
        "store_const",
        "store_true",
        "store_false",
        "append_const",
        "count",
        "help",
        "version",
    )
    entry["takes_value"] = takes_value and kind != "boolean_optional"
    if not entry["takes_value"]:
        entry["type"] = None
    if action.const is not None:
        entry["const"] = action.const if _jsonable(action.const) else repr(action.const)
    if action.choices is not None:
        choices = list(action.choices)
        entry["choices"] = [str(c) for c in choices]
        entry["choice_values"] = choices if _jsonable(choices) else None
    default = action.default
    if default is argparse.SUPPRESS:
        entry["default"] = "==SUPPRESS=="
    elif _jsonable(default):
        entry["default"] = default
    else:
        entry["default_type"] = f"{type(default).__module__}.{type(default).__qualname__}"
    return entry


def parser_features(flexible: type) -> dict[str, bool]:
    """What ``FlexibleArgumentParser.parse_args`` does before argparse, read from its source."""
    source = inspect.getsource(flexible.parse_args)
    error = getattr(flexible, "error", None)
    error_source = inspect.getsource(error) if error is not argparse.ArgumentParser.error else ""
    return {
        "model_flag_moved_to_positional": 'r"^--model(=.+|$)"' in source,
        "served_model_name_needs_positional": "--served[-_]model[-_]name" in source,
        "underscores_to_dashes": 'pattern = re.compile(r"(?<=--)[^\\.]*")' in source,
        "dash_O_optimization_level": '"--optimization-level"' in source,
        "dotted_json_keys": 'key, *keys = processed_arg.split(".")' in source,
        "dotted_list_append": 'processed_arg.endswith("+")' in source,
        "dotted_value_human_readable_int": "human_readable_int(value_str)" in source,
        "config_file": "_pull_args_from_config" in source,
        "task_hint": "--task is not a vllm serve option" in error_source,
    }
