"""Build a JSON value that satisfies a JSON schema: the structured-output "model".

Covers what OpenAI's ``json_schema`` response format and tool parameter schemas use (and what
pydantic emits): objects with properties, ``required`` and ``$defs``/``$ref``; arrays; enums and
``const``; ``anyOf``/``oneOf``/``allOf``; strings (a few formats), numbers, integers, booleans,
null.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 12


def example(schema: Any, *, root: Any = None, depth: int = 0) -> Any:
    """A value that validates against ``schema``."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return example(_resolve(root, schema["$ref"]), root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = schema[key]
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return example(chosen, root=root, depth=depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return example(merged, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props: dict[str, Any] = schema.get("properties", {})
        return {name: example(sub, root=root, depth=depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example(schema.get("items", {}), root=root, depth=depth + 1)] * count
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


def _string(schema: dict[str, Any]) -> str:
    formats = {"date-time": "2025-08-05T00:00:00Z", "date": "2025-08-05", "email": "a@b.example"}
    text = formats.get(str(schema.get("format")), "simulated")
    minimum = int(schema.get("minLength", 0))
    return text.ljust(minimum, "x")


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node
