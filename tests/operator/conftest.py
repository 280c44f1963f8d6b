"""Fixtures for the operator's tests: the GptOssDeployment CRD installed once per session in
the local control plane, and kubectl pointed at it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.toolchain import Toolchain
from tests.operator.gptoss_crd import CRD_NAME, CRD_PATH, load_yaml
from tests.waiting import eventually


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl against the session's cluster; returns the finished process unchecked."""

    binary: Path
    kubeconfig: Path
    cache_dir: Path

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
        ]
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )

    def apply(self, namespace: str, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """``kubectl apply --validate=strict`` of one object given as a dict."""
        return self("apply", "--validate=strict", "-n", namespace, "-f", "-", stdin=yaml.dump(obj))


@pytest.fixture(scope="session")
def kubectl(
    toolchain: Toolchain, cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Kubectl:
    return Kubectl(toolchain.kubectl, cluster.kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))


def _established(api: client.ApiextensionsV1Api) -> bool:
    crd = api.read_custom_resource_definition(CRD_NAME)
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


@pytest.fixture(scope="session")
def gptoss_crd(kubectl: Kubectl, api_client: client.ApiClient) -> dict[str, Any]:
    """The CRD, applied and Established, and served to kubectl."""
    applied = kubectl("apply", "--server-side", "-f", str(CRD_PATH))
    assert applied.returncode == 0, applied.stderr
    extensions = client.ApiextensionsV1Api(api_client)
    eventually(lambda: _established(extensions), timeout=60, what="the CRD to be Established")
    eventually(
        lambda: kubectl("get", "gptoss", "-A").returncode == 0,
        timeout=60,
        what="kubectl to discover the gptoss short name",
    )
    return load_yaml(CRD_PATH)
