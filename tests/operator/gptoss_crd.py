"""Where the GptOssDeployment CRD and its examples live, and small readers for them (tests only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "crds" / "gptossdeployments.gptoss.dev.yaml"
EXAMPLES = tuple(sorted((REPO / "crds" / "examples").glob("*.yaml")))
GROUP, VERSION, PLURAL = "gptoss.dev", "v1alpha1", "gptossdeployments"
CRD_NAME = f"{PLURAL}.{GROUP}"


def load_yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def version_schema(section: str) -> dict[str, Any]:
    """The CRD's schema of ``spec`` or ``status``."""
    (version,) = load_yaml(CRD_PATH)["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"][section]
    return schema


def manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A GptOssDeployment object with ``spec``."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GptOssDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
