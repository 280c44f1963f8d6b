"""The container images: the simulator image's ``vllm`` accepts the operator's exact command
line, and the Dockerfiles keep to the rules (multi-stage, uv from the lock, non-root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import vllm_args
from gptoss_operator.reconciling.planning import plan
from gptoss_operator.settings import OperatorSettings
from gptoss_sim import cli
from gptoss_sim.vllm_shim import STARTUP_ENV, UsageError, simulator_args
from tests.chart.helm import REPO

DOCKERFILES = tuple(sorted((REPO / "docker").glob("*.Dockerfile")))


def _operator_command(spec: dict[str, object]) -> list[str]:
    body = {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": spec,
    }
    decided = plan(body, OperatorSettings())
    assert decided.sizing is not None and decided.weights is not None
    typed = GptOssDeploymentSpec.model_validate(spec)
    return ["serve", *vllm_args(typed, decided.sizing, decided.weights)]


def test_the_operators_command_line_starts_the_simulator_with_its_limits() -> None:
    argv = _operator_command({"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}})
    args = cli.parser().parse_args(simulator_args(argv, {STARTUP_ENV: "2"}))
    assert args.kind == "vllm"
    assert args.model == "gpt-oss-20b"
    assert (args.host, args.port) == ("0.0.0.0", 8000)  # noqa: S104 - inside a pod
    max_len = int(argv[argv.index("--max-model-len") + 1])
    assert args.max_model_len == max_len
    assert args.kv_cache_tokens >= 2 * max_len
    assert args.startup_seconds == 2.0
    if "--max-num-seqs" in argv:
        assert args.max_num_seqs == int(argv[argv.index("--max-num-seqs") + 1])


def test_equals_flags_and_ignored_flags_are_understood() -> None:
    argv = ["serve", "/models/x", "--served-model-name=gpt-oss-120b", "--port=9000"]
    argv += ["--no-enable-prefix-caching", "--block-size=64", "--tensor-parallel-size", "2"]
    args = cli.parser().parse_args(simulator_args(argv, {}))
    assert (args.model, args.port) == ("gpt-oss-120b", 9000)


def test_without_a_served_name_the_model_argument_names_the_model() -> None:
    assert simulator_args(["serve", "gpt-oss-20b"], {})[:3] == ["vllm", "--model", "gpt-oss-20b"]


@pytest.mark.parametrize("argv", [[], ["bench"], ["serve"], ["serve", "--port", "1"]])
def test_anything_but_vllm_serve_with_a_model_is_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        simulator_args(argv, {})


def test_there_is_a_dockerfile_per_image() -> None:
    assert {p.name for p in DOCKERFILES} == {
        "operator.Dockerfile",
        "router.Dockerfile",
        "sim.Dockerfile",
    }


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_images_build_from_the_lock_in_stages_and_run_as_non_root(path: Path) -> None:
    text = path.read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, flags=re.MULTILINE)
    assert len(stages) >= 3, "uv, build and runtime stages"
    assert "uv sync --frozen --no-dev" in text
    (user,) = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert user == "65532:65532"
    assert re.search(r"^ENTRYPOINT \[", text, flags=re.MULTILINE)
    last_stage = text.rsplit("\nFROM ", 1)[1]
    assert "uv" not in re.findall(r"COPY --from=(\S+)", last_stage)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_the_dockerignore_lets_in_everything_the_build_copies(path: Path) -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in Path(f"{path}.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", path.read_text(), flags=re.MULTILINE)
    sources = {source.rstrip("/") for line in copied for source in line.split()}
    sources |= set(re.findall(r"type=bind,source=([^,]+)", path.read_text()))
    assert sources, "the build copies the project"
    assert sources <= allowed, f"excluded by the .dockerignore: {sorted(sources - allowed)}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_both_bases_are_build_arguments_and_uv_is_the_makefiles(path: Path) -> None:
    text = path.read_text()
    (uv,) = re.findall(r"^ARG UV_VERSION=(\S+)$", text, flags=re.MULTILINE)
    (make_uv,) = re.findall(
        r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), flags=re.MULTILINE
    )
    assert uv == make_uv
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, flags=re.MULTILINE)
    assert re.search(r"^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:\$\{UV_VERSION\}$", text, re.MULTILINE)
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == [
        "${UV_IMAGE}",
        "${PYTHON_IMAGE}",
        "${PYTHON_IMAGE}",
    ]
