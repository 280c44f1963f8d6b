"""The chart under test and small runners for helm and kubectl (tests only)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gptoss"
CI_VALUES = tuple(sorted((CHART / "ci").glob("*-values.yaml")))
KUBE_VERSION = "1.35.0"


@dataclass(frozen=True)
class Tool:
    """A helm or kubectl binary; ``kubeconfig`` points it at a cluster, if given."""

    binary: Path
    kubeconfig: Path | None = None

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), *args]
        if self.kubeconfig is not None:
            command.append(f"--kubeconfig={self.kubeconfig}")
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )

    def ok(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        """Run and return stdout; fail the test with stderr if the command failed."""
        done = self(*args, stdin=stdin, timeout=timeout)
        assert done.returncode == 0, f"{self.binary.name} {' '.join(args)}:\n{done.stderr}"
        return done.stdout


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a rendered manifest."""
    return [d for d in yaml.safe_load_all(text) if d]


def render(
    helm: Tool, *values: Path, sets: tuple[str, ...] = (), namespace: str = "gptoss"
) -> list[dict[str, Any]]:
    """``helm template`` of the chart with ``values`` files and ``--set`` pairs."""
    args = ["template", "gptoss", str(CHART), "--namespace", namespace]
    args += ["--kube-version", KUBE_VERSION]
    for path in values:
        args += ["--values", str(path)]
    for pair in sets:
        args += ["--set", pair]
    return documents(helm.ok(*args))


def find(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> list[dict[str, Any]]:
    """Documents of ``kind`` whose name ends with ``name_suffix``."""
    return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    (found,) = find(docs, kind, name_suffix)
    return found
