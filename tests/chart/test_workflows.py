"""The GitHub workflows: actionlint (built from the Go module proxy at a pinned version) finds
nothing, every job the project promises exists, and the e2e inputs are valid."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gptoss_operator.api import GptOssDeploymentSpec
from tests.chart.helm import CHART, REPO, Tool, one, render

ACTIONLINT_VERSION = "v1.7.12"
WORKFLOWS = REPO / ".github" / "workflows"
KIND = REPO / ".github" / "kind"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint, installed once into the gptoss cache with ``go install``."""
    cache = Path(os.environ.get("GPTOSS_CACHE", Path.home() / ".cache" / "gptoss"))
    bin_dir = cache / "tools" / f"actionlint-{ACTIONLINT_VERSION}"
    binary = bin_dir / "actionlint"
    if not binary.exists():
        subprocess.run(
            ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"],
            env={**os.environ, "GOBIN": str(bin_dir)},
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def test_actionlint_finds_nothing_in_any_workflow(actionlint: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert len(files) >= 4
    done = subprocess.run(
        [str(actionlint), "-no-color", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nonexistent_context }}\n"
    )
    done = subprocess.run(
        [str(actionlint), "-no-color", str(broken)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "nonexistent_context" in done.stdout


def test_the_workflows_cover_lint_tests_chart_and_e2e() -> None:
    ci = _workflow("ci.yml")
    assert any("bash .ci/run" in s.get("run", "") for s in ci["jobs"]["test"]["steps"])
    lint_jobs = _workflow("lint.yml")["jobs"].values()
    lint_runs = " ".join(s.get("run", "") for j in lint_jobs for s in j["steps"])
    assert "make lint" in lint_runs
    assert "actionlint@${ACTIONLINT_VERSION}" in lint_runs
    assert _workflow("lint.yml")["jobs"]["workflows"]["steps"][2]["env"] == {
        "ACTIONLINT_VERSION": ACTIONLINT_VERSION
    }
    chart_runs = " ".join(
        s.get("run", "") for s in _workflow("chart.yml")["jobs"]["chart"]["steps"]
    )
    for step in ("helm lint", "helm template", "replicaCount", "cmp -s"):
        assert step in chart_runs
    e2e_runs = " ".join(s.get("run", "") for s in _workflow("e2e.yml")["jobs"]["kind"]["steps"])
    for step in ("docker buildx build", "kind load", "helm install", "tests.chart.kind_smoke"):
        assert step in e2e_runs


def test_the_e2e_values_pass_the_schema_and_use_the_loaded_images(helm: Tool) -> None:
    docs = render(helm, KIND / "values.yaml", namespace="e2e")
    for component in ("operator", "router"):
        container = one(docs, "Deployment", f"-{component}")["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["image"] == f"gptoss-{component}:e2e"
        assert container["imagePullPolicy"] == "Never"


def test_the_e2e_gptossdeployment_is_valid_and_runs_the_simulator_image() -> None:
    cr = yaml.safe_load((KIND / "chat-20b.yaml").read_text())
    spec = GptOssDeploymentSpec.model_validate(cr["spec"])
    assert spec.serving.image == "gptoss-sim:e2e"
    e2e = (WORKFLOWS / "e2e.yml").read_text()
    assert '-t "gptoss-$image:e2e"' in e2e
    assert (CHART / "crds").is_dir()
