"""The GitHub workflows: actionlint (built from the Go module proxy at a pinned version) finds
nothing, every job the project promises exists, and the e2e inputs are valid."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gptoss_operator.api.spec import GptOssDeploymentSpec
from tests.chart.helm import CHART, REPO, Tool, find, one, render

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
    for step in (
        "docker buildx build",
        "kind load",
        "helm install",
        "tests.chart.kind_smoke",
        "tests.chart.kind_conversation",
    ):
        assert step in e2e_runs


def test_the_e2e_values_pass_the_schema_and_use_the_loaded_images(helm: Tool) -> None:
    docs = render(helm, KIND / "values.yaml", namespace="e2e")
    for component in ("operator", "router"):
        container = one(docs, "Deployment", f"-{component}")["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["image"] == f"gptoss-{component}:e2e"
        assert container["imagePullPolicy"] == "Never"


def _e2e_runs() -> list[str]:
    return [str(s.get("run", "")) for s in _workflow("e2e.yml")["jobs"]["kind"]["steps"]]


def _step_running(runs: list[str], text: str) -> int:
    (index,) = [i for i, run in enumerate(runs) if text in run]
    return index


def test_the_e2e_values_keep_the_default_embedded_store_and_several_routers(helm: Tool) -> None:
    values = yaml.safe_load((KIND / "values.yaml").read_text())
    assert "store" not in values, "the e2e installs the store users get"
    assert not {"replicas", "autoscaling"} & set(values["router"])
    assert "replicas" not in values["operator"]
    docs = render(helm, KIND / "values.yaml", namespace="e2e")
    defaults = render(helm, namespace="e2e")

    store = one(docs, "StatefulSet", "-store")["spec"]["template"]["spec"]["containers"][0]
    default_store = one(defaults, "StatefulSet", "-store")["spec"]["template"]["spec"]
    assert store["image"] == default_store["containers"][0]["image"]
    assert store["image"].startswith("docker.io/valkey/valkey:")
    assert store["imagePullPolicy"] == "IfNotPresent", "kind's containerd pulls it"

    router = one(docs, "Deployment", "-router")
    replicas = router["spec"]["replicas"]
    assert replicas == one(defaults, "Deployment", "-router")["spec"]["replicas"]
    assert replicas >= 2
    assert not find(docs, "HorizontalPodAutoscaler")
    env = {
        e["name"]: e.get("value")
        for e in router["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["GPTOSS_ROUTER_STORE__URL"] == "redis://gptoss-store.e2e.svc:6379/0"
    assert one(docs, "Deployment", "-operator")["spec"]["replicas"] >= 2


def test_the_e2e_installs_the_chart_with_only_its_values_file() -> None:
    runs = _e2e_runs()
    install = runs[_step_running(runs, "helm install")]
    assert "--values .github/kind/values.yaml" in install
    assert "--set" not in install


def test_the_e2e_continues_a_conversation_on_a_second_router_pod() -> None:
    runs = _e2e_runs()
    step = _step_running(runs, "tests.chart.kind_conversation")
    assert step > _step_running(runs, "helm install")
    assert step > _step_running(runs, "make venv")
    run = runs[step]
    # Two pods of the router component, by name (`-o name` gives pod/<name>), never the
    # Service: each turn goes to its own pod, on the port the router listens on.
    assert "app.kubernetes.io/component=router" in run
    assert "-o name" in run
    assert "service/" not in run
    port = yaml.safe_load((CHART / "values.yaml").read_text())["router"]["port"]
    assert f'port-forward "${{routers[0]}}" 8081:{port} &' in run
    assert f'port-forward "${{routers[1]}}" 8082:{port} &' in run
    assert 'test "${#routers[@]}" -ge 2' in run
    assert "http://127.0.0.1:8081/v1 http://127.0.0.1:8082/v1 gpt-oss-20b" in run


def test_the_e2e_gptossdeployment_is_valid_and_runs_the_simulator_image() -> None:
    cr = yaml.safe_load((KIND / "chat-20b.yaml").read_text())
    spec = GptOssDeploymentSpec.model_validate(cr["spec"])
    assert spec.serving.image == "gptoss-sim:e2e"
    e2e = (WORKFLOWS / "e2e.yml").read_text()
    assert '-t "gptoss-$image:e2e"' in e2e
    assert (CHART / "crds").is_dir()


VERSION_SCRIPT = REPO / ".github" / "release" / "version.sh"


def _steps(job: dict[str, Any]) -> str:
    """Every ``run`` script and ``with`` value of a job's steps, as one text."""
    parts = [str(s.get("run", "")) + " " + str(s.get("with", "")) for s in job["steps"]]
    return "\n".join(parts)


def _version(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / ".github" / "release" / "version.sh"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_only_a_version_tag_starts_a_release() -> None:
    release = _workflow("release.yml")
    triggers = release[True]  # PyYAML reads the bare key `on` as True
    assert triggers == {"push": {"tags": ["v*.*.*"]}}
    assert release["permissions"] == {"contents": "read"}


def test_the_release_builds_every_image_for_amd64_and_arm64_signed_with_an_sbom() -> None:
    job = _workflow("release.yml")["jobs"]["images"]
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["packages"] == "write"
    assert set(job["strategy"]["matrix"]["image"]) == {"operator", "router", "sim"}
    (build,) = [s for s in job["steps"] if s.get("id") == "build"]
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    assert build["with"]["sbom"] is True
    assert build["with"]["file"] == "docker/${{ matrix.image }}.Dockerfile"
    assert "PYTHON_IMAGE" not in str(build["with"]), "GitHub builds on the usual base"
    text = _steps(job)
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in text
    assert "cosign attest --yes --type spdxjson" in text
    assert "spdx-json" in text


def test_the_release_publishes_the_chart_as_a_signed_oci_artifact_of_the_same_version() -> None:
    jobs = _workflow("release.yml")["jobs"]
    chart = jobs["chart"]
    assert set(chart["needs"]) == {"version", "images"}
    assert chart["permissions"]["id-token"] == "write"
    assert chart["env"]["VERSION"] == "${{ needs.version.outputs.version }}"
    assert jobs["images"]["env"]["VERSION"] == chart["env"]["VERSION"]
    text = _steps(chart)
    assert 'helm package charts/gptoss --version "$VERSION" --app-version "$VERSION"' in text
    assert 'helm push "dist/gptoss-$VERSION.tgz" "$CHARTS"' in text
    assert chart["env"]["CHARTS"] == "oci://${{ needs.version.outputs.prefix }}/charts"
    assert 'cosign sign --yes "${CHARTS#oci://}/gptoss@$digest"' in text
    assert "gh release create" in text


@pytest.mark.parametrize("image", ["operator", "router"])
def test_the_release_pushes_the_repository_the_chart_pulls(image: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    repository = values[image]["image"]["repository"]
    assert repository == f"ghcr.io/gptoss/gptoss-{image}"
    check = _steps(_workflow("release.yml")["jobs"]["version"])
    assert 'grep -qx "    repository: $prefix/gptoss-$image" charts/gptoss/values.yaml' in check
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert f"    repository: {repository}" in lines


def test_the_version_comes_from_the_chart_and_the_tag_must_name_it() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    done = _version(REPO, f"v{chart['version']}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == chart["version"] == chart["appVersion"]
    wrong = _version(REPO, "v9.9.9")
    assert wrong.returncode == 1
    assert f"tag 'v9.9.9' does not name charts/gptoss/Chart.yaml version '{chart['version']}'" in (
        wrong.stderr
    )


@pytest.mark.parametrize(
    ("chart_lines", "python_version", "message"),
    [
        ("version: 0.3.0\nappVersion: 0.2.0\n", "0.3.0", "appVersion '0.2.0' differs"),
        ('version: 0.3.0\nappVersion: "0.3.0"\n', "0.2.9", "pyproject.toml version '0.2.9'"),
        ("version: 0.3\nappVersion: 0.3\n", "0.3", "'0.3' is not a semantic version"),
    ],
)
def test_a_release_refuses_versions_that_disagree(
    tmp_path: Path, chart_lines: str, python_version: str, message: str
) -> None:
    (tmp_path / ".github" / "release").mkdir(parents=True)
    (tmp_path / ".github" / "release" / "version.sh").write_text(VERSION_SCRIPT.read_text())
    (tmp_path / "charts" / "gptoss").mkdir(parents=True)
    (tmp_path / "charts" / "gptoss" / "Chart.yaml").write_text(f"name: gptoss\n{chart_lines}")
    pyproject = (
        f'[project]\nname = "gptoss"\nversion = "{python_version}"\n\n[tool.x]\nversion = 1\n'
    )
    (tmp_path / "pyproject.toml").write_text(pyproject)
    done = _version(tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
