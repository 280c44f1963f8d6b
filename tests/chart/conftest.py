"""Fixtures for the chart's tests: helm and kubectl, offline and pointed at the local cluster."""

from __future__ import annotations

import pytest

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.toolchain import Toolchain
from tests.chart.helm import Tool


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
