"""Fixtures for the chart's tests: helm and kubectl, offline and pointed at the local cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.images import Podman, ensure_images
from gptoss_localkube.toolchain import Toolchain
from tests.chart.helm import CHART, Tool

Install = Callable[..., str]


@pytest.fixture(scope="session")
def helm(toolchain: Toolchain) -> Tool:
    """helm for rendering and linting (no cluster)."""
    return Tool(toolchain.helm)


@pytest.fixture(scope="session")
def cluster_helm(toolchain: Toolchain, cluster: ClusterInfo) -> Tool:
    return Tool(toolchain.helm, cluster.kubeconfig)


@pytest.fixture(scope="session")
def kubectl(toolchain: Toolchain, cluster: ClusterInfo) -> Tool:
    return Tool(toolchain.kubectl, cluster.kubeconfig)


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The operator, router and simulator images, built with podman on a Debian-made base (or
    found in the cache): name -> image reference."""
    return ensure_images()


@pytest.fixture(scope="session")
def podman() -> Podman:
    return Podman()


@pytest.fixture
def install(cluster_helm: Tool, namespace: str) -> Iterator[Install]:
    """Install the chart as a fresh release in ``namespace``; uninstalled after the test."""
    releases: list[str] = []

    def run(*args: str) -> str:
        name = f"g{uuid.uuid4().hex[:8]}"
        releases.append(name)
        cluster_helm.ok("install", name, str(CHART), "--namespace", namespace, *args)
        return name

    yield run
    for name in releases:
        cluster_helm("uninstall", name, "--namespace", namespace)
