"""Shared fixtures: one local Kubernetes control plane per test session, a namespace per test,
and a real Redis server per test that asks for one.

The cluster is real (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with KWOK
playing the kubelets of the fake GPU node catalog; it is built on first use (minutes) and then
starts in seconds from the cache. Its pod network is a random loopback /16 so that two sessions
on one machine do not hand out the same pod IPs.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from gptoss_demo.stack import running_stack
from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.redis_server import RedisServer, ensure_redis
from gptoss_localkube.toolchain import Toolchain, ensure_toolchain

_CLUSTER_FIXTURES = frozenset({"toolchain", "cluster", "api_client", "namespace"})


def _starts_a_cluster(item: pytest.Item) -> bool:
    """A test needs the control plane if it uses one of its fixtures (directly or through
    another fixture) or its module starts a cluster or the demo stack of its own."""
    if _CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    found = vars(module).values() if module is not None else ()
    return any(value is LocalCluster or value is running_stack for value in found)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``cluster`` every test that uses the control plane, so ``-m "not cluster"`` selects
    exactly the tests that run without it (no test file marks itself)."""
    for item in items:
        if _starts_a_cluster(item):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return ensure_toolchain()


@pytest.fixture(scope="session")
def cluster(toolchain: Toolchain) -> Iterator[ClusterInfo]:
    # 127.100-189: apart from the fixed networks of the demo (127.1), the chaos, demo and
    # second-cluster tests (127.66, 127.77, 127.78, 127.254) and the benchmarks (127.199+).
    pod_network = f"127.{100 + secrets.randbelow(90)}.0.0/16"
    with LocalCluster(toolchain, pod_network=pod_network) as info:
        yield info


@pytest.fixture(scope="session")
def api_client(cluster: ClusterInfo) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace, deleted (with everything in it) after the test."""
    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def redis_bin() -> Path:
    """A real redis-server binary (Debian's, unpacked into the cache on first use)."""
    return ensure_redis()


@pytest.fixture
def redis_server(redis_bin: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port with a password and no persistence; the test
    may kill() and start() it. ``url`` has no password: pass ``password`` to the client."""
    with RedisServer(binary=redis_bin) as server:
        yield server
