"""vLLM's argparse ``type=`` converters, re-implemented so their verdicts and messages match.

Followed, in the pinned and newest versions:

* ``vllm/engine/arg_utils.py``: ``parse_type`` (a ``ValueError`` becomes "Value X cannot be
  converted to <repr>."), ``optional_type`` (``""`` and ``"None"`` mean ``None``),
  ``union_dict_and_str``, ``_compute_kwargs.<locals>.parse_dataclass`` (pydantic's
  ``TypeAdapter(cls).validate_json``), the ``lambda s: s.lower().replace("-", "_")`` of
  ``--moe-backend`` and friends, the comma-separated ``--device-ids`` lambda, and (0.32)
  ``_expand_json_human_readable_numbers``;
* ``human_readable_int`` and ``human_readable_int_or_auto``: ``vllm/engine/arg_utils.py`` in 0.17,
  ``vllm/utils/argparse_utils.py`` in 0.32.

argparse names a failing converter by its ``__name__`` ("invalid int value: 'x'"), so each one
here carries vLLM's function name. Function reprs lose their memory address (``<function loads>``).

A dataclass-typed config flag (``--compilation-config``) is checked as far as its top-level keys:
it must be a JSON object and, where the dataclass forbids extra keys, name only its fields. Nested
values are not validated (vLLM's pydantic models are not part of the dump), and pydantic's text
for invalid JSON differs from Python's ``json`` module's, so that message is approximate.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from typing import Any

from gptoss_vllmspec.spec import ValueType

Converter = Callable[[str], Any]

_PYDANTIC_DOCS = "https://errors.pydantic.dev/{version}/v/{kind}"


def human_readable_int(value: str) -> int:
    """``'1k'`` -> 1000, ``'1K'`` -> 1024, ``'25.6k'`` -> 25600; else ``int(value)``."""
    value = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value)
    if match:
        number, suffix = match.groups()
        decimal = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
        binary = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        if suffix in decimal:
            return int(float(number) * decimal[suffix])
        try:
            return int(number) * binary[suffix]
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                "Decimals are not allowed "
                f"with binary suffixes like {suffix}. Did you mean to use "
                f"{number}{suffix.lower()} instead?"
            ) from e
    return int(value)


def human_readable_int_or_auto(value: str) -> int:
    """As ``human_readable_int``, and ``'-1'`` or ``'auto'`` mean -1."""
    value = value.strip()
    if value == "-1" or value.lower() == "auto":
        return -1
    return human_readable_int(value)


def _function_repr(fn: Any) -> str:
    if isinstance(fn, type):
        return repr(fn)
    return f"<function {getattr(fn, '__name__', 'function')}>"


def parse_type(return_type: Converter) -> Converter:
    def _parse_type(val: str) -> Any:
        try:
            return return_type(val)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"Value {val} cannot be converted to {_function_repr(return_type)}."
            ) from e

    return _parse_type


def optional_type(return_type: Converter) -> Converter:
    inner = parse_type(return_type)

    def _optional_type(val: str) -> Any:
        if val in ("", "None"):
            return None
        return inner(val)

    return _optional_type


def union_dict_and_str(val: str) -> Any:
    if not re.match(r"(?s)^\s*{.*}\s*$", val):
        return str(val)
    return optional_type(json.loads)(val)


def loads(val: str) -> Any:
    """``json.loads`` under its own name, as argparse reports it ("invalid loads value")."""
    return json.loads(val)


def expand_json_human_readable_numbers(val: str) -> str:
    """0.32: bare ``80m``/``1K`` tokens outside JSON strings become integers."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', val)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(
            r"\b\d+(?:\.\d+)?[kKmMgGtT]\b",
            lambda m: str(human_readable_int(m.group())),
            parts[i],
        )
    return "".join(parts)


def _pydantic_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else f"{text[:25]}...{text[-24:]}"


def _pydantic_error(
    cls_name: str, errors: list[tuple[str | None, str, str, Any]], pydantic: str
) -> argparse.ArgumentTypeError:
    """pydantic's ``ValidationError`` text: one location line (if any) and one message each."""
    lines = []
    for location, text, kind, value in errors:
        if location is not None:
            lines.append(location)
        docs = _PYDANTIC_DOCS.format(version=pydantic, kind=kind)
        lines.append(
            f"  {text} [type={kind}, input_value={_pydantic_value(value)}, "
            f"input_type={type(value).__name__}]\n    For further information visit {docs}"
        )
    noun = "error" if len(errors) == 1 else "errors"
    return argparse.ArgumentTypeError(
        f"{len(errors)} validation {noun} for {cls_name}\n" + "\n".join(lines)
    )


def dataclass_json(value_type: ValueType, pydantic: str) -> Converter:
    cls_name = (value_type.dataclass or "Config").rsplit(".", 1)[-1]

    def parse_dataclass(val: str) -> Any:
        if value_type.human_readable_numbers:
            val = expand_json_human_readable_numbers(val)
        try:
            value = json.loads(val)
        except ValueError as e:
            raise _pydantic_error(
                cls_name, [(None, f"Invalid JSON: {e}", "json_invalid", val)], pydantic
            ) from e
        if not isinstance(value, dict):
            raise _pydantic_error(
                cls_name, [(None, "Input should be an object", "dataclass_type", value)], pydantic
            )
        known = value_type.dataclass_fields
        if value_type.extra_keys == "forbid" and known is not None:
            unknown = [k for k in value if k not in known]
            if unknown:
                raise _pydantic_error(
                    cls_name,
                    [
                        (k, "Unexpected keyword argument", "unexpected_keyword_argument", value[k])
                        for k in unknown
                    ],
                    pydantic,
                )
        return value

    return parse_dataclass


def _lower_underscore(s: str) -> str:
    return s.lower().replace("-", "_")


def _comma_list(s: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in (part.strip() for part in s.split(","))]


_lower_underscore.__name__ = "<lambda>"
_comma_list.__name__ = "<lambda>"


def _identity(s: str) -> str:
    return s


_identity.__name__ = "str"

_BASE: dict[str, Converter] = {
    "int": int,
    "float": float,
    "str": _identity,
    "json": loads,
    "union_dict_and_str": union_dict_and_str,
    "human_readable_int": human_readable_int,
    "human_readable_int_or_auto": human_readable_int_or_auto,
    "lower_underscore": _lower_underscore,
    "comma_list": _comma_list,
    # A converter vLLM added that the dump could not name: accept the value as written.
    "unknown": _identity,
}


def converter_for(value_type: ValueType, *, pydantic: str = "2.12") -> Converter:
    """The converter vLLM's parser uses for a value of this type."""
    if value_type.name == "dataclass_json":
        base = dataclass_json(value_type, pydantic)
    else:
        base = _BASE[value_type.name]
    if value_type.wrapped:
        base = parse_type(base)
    if value_type.optional:
        base = optional_type(base)
    return base
