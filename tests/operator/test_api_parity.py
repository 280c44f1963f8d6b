"""The CRD's schema and the pydantic models in ``gptoss_operator.api`` describe the same API:
the same fields, types, enums, defaults and bounds, both ways; and every CRD field is described.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.api.status import GptOssDeploymentStatus
from tests.operator.gptoss_crd import CRD_PATH, EXAMPLES, load_yaml, version_schema

# Keywords that carry meaning for validation and defaulting; the rest (titles, descriptions,
# Kubernetes list and CEL extensions) is compared elsewhere or has no pydantic counterpart.
COMPARED = (
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "maxItems",
    "maxProperties",
)


def _from_crd(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: node[k] for k in COMPARED if k in node}
    if out.get("format") in ("int32", "int64"):  # pydantic's int has no width
        del out["format"]
    if "properties" in node:
        out["properties"] = {k: _from_crd(v) for k, v in node["properties"].items()}
        out["required"] = sorted(node.get("required", []))
    if "items" in node:
        out["items"] = _from_crd(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _from_crd(node["additionalProperties"])
    return out


def _from_pydantic(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _from_pydantic({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    if "anyOf" in node:  # Optional[X]: X, keeping the outer default
        (inner,) = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        return _from_pydantic({**inner, **outer}, defs)
    out = {k: node[k] for k in COMPARED if k in node}
    if out.get("default", 0) is None:  # an unset optional field: no default in the CRD either
        del out["default"]
    if "properties" in node:
        out["properties"] = {k: _from_pydantic(v, defs) for k, v in node["properties"].items()}
        out["required"] = sorted(node.get("required", []))
    if "items" in node:
        out["items"] = _from_pydantic(node["items"], defs)
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _from_pydantic(node["additionalProperties"], defs)
    return out


def _pydantic_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    return _from_pydantic(schema, schema.get("$defs", {}))


def _differences(crd: Any, py: Any, path: str = "") -> Iterator[str]:
    if isinstance(crd, dict) and isinstance(py, dict):
        for key in sorted(set(crd) | set(py)):
            if key not in py:
                yield f"{path}.{key}: only in the CRD ({crd[key]!r})"
            elif key not in crd:
                yield f"{path}.{key}: only in the model ({py[key]!r})"
            else:
                yield from _differences(crd[key], py[key], f"{path}.{key}")
    elif crd != py:
        yield f"{path}: CRD {crd!r} != model {py!r}"


@pytest.mark.parametrize(
    ("section", "model"), [("spec", GptOssDeploymentSpec), ("status", GptOssDeploymentStatus)]
)
def test_the_model_and_the_crd_have_the_same_fields_types_defaults_and_bounds(
    section: str, model: type[pydantic.BaseModel]
) -> None:
    crd = _from_crd(version_schema(section))
    py = _pydantic_schema(model)
    assert list(_differences(crd, py)) == []
    # The comparison is not vacuous: it saw the deep fields.
    assert "properties" in crd["properties"].get("gpu", crd["properties"].get("sizing", {}))


def test_the_comparison_notices_a_changed_bound() -> None:
    crd = _from_crd(version_schema("spec"))
    crd["properties"]["replicas"]["maximum"] = 65
    assert list(_differences(crd, _pydantic_schema(GptOssDeploymentSpec))) == [
        ".properties.replicas.maximum: CRD 65 != model 64"
    ]


def _properties(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from _properties(child, f"{path}.{name}")
    if "items" in node:
        yield from _properties(node["items"], f"{path}[]")


def test_every_crd_field_has_a_description() -> None:
    (version,) = load_yaml(CRD_PATH)["spec"]["versions"]
    root = version["schema"]["openAPIV3Schema"]
    fields = [(p, n) for p, n in _properties(root, "") if p != ".metadata"]
    assert len(fields) >= 60  # the walk reached the nested fields
    assert [path for path, node in fields if not node.get("description", "").strip()] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses_into_the_spec_model(example: Path) -> None:
    document = load_yaml(example)
    spec = GptOssDeploymentSpec.model_validate(document["spec"])
    assert spec.model == document["spec"]["model"]
    assert spec.gpu.product == document["spec"]["gpu"]["product"]


def test_the_examples_cover_each_model_on_hopper_ampere_and_amd() -> None:
    specs = [load_yaml(p)["spec"] for p in EXAMPLES]
    for model in ("gpt-oss-120b", "gpt-oss-20b"):
        products = {s["gpu"]["product"] for s in specs if s["model"] == model}
        assert products >= {"H100-80GB", "A100-80GB", "MI300X"}, model


def test_the_model_refuses_unknown_fields_as_the_api_server_does() -> None:
    with pytest.raises(pydantic.ValidationError, match="vendor"):
        GptOssDeploymentSpec.model_validate(
            {"model": "gpt-oss-20b", "gpu": {"product": "L4", "vendor": "nvidia"}}
        )


def test_the_model_reads_and_writes_the_camel_case_wire_form() -> None:
    wire = {"model": "gpt-oss-20b", "gpu": {"product": "L4"}, "serving": {"maxModelLen": 8192}}
    spec = GptOssDeploymentSpec.model_validate(wire)
    assert spec.serving.max_model_len == 8192
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert dumped["serving"]["maxModelLen"] == 8192
    assert dumped["serving"]["toolCalling"] is True
