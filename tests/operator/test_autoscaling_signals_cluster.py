"""The autoscaler's signals on the real control plane: spill read from every router pod (found by
label selector) and summed per GptOssDeployment, router pods restarting or being replaced
without a phantom burst, and replicas kept while a ready replica's metrics do not answer.

Router pods are stand-ins (``fake_router.py``, run on their pod IPs by the local cluster's
``process`` runtime) whose numbers each test sets; vLLM pods run the simulator, whose fault
rules can hang its ``/metrics`` alone while ``/health`` keeps it Ready.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, events, get_cr, ready_pod_ips, ready_reason, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

FAKE_ROUTER = Path(__file__).with_name("fake_router.py")
ROUTER_LABELS = {"app.kubernetes.io/component": "router", "test.gptoss.dev/router": "fake"}
MODEL = "gpt-oss-20b"


@dataclass
class FakeRouter:
    """One router pod: its numbers in a state file, its IP once Ready."""

    name: str
    state: Path
    ip: str = ""

    def set(self, inflight: dict[str, int], spilled: dict[str, int], hang: bool = False) -> None:
        """Per deployment (``namespace/name``) of ``MODEL``: spilled now and spilled so far;
        ``hang``: answer /metrics too late for the operator."""
        body = {
            "inflight": [[MODEL, d, n] for d, n in inflight.items()],
            "spilled": [[MODEL, d, n] for d, n in spilled.items()],
            "hang": hang,
        }
        self.state.write_text(json.dumps(body))

    def scrapes(self) -> int:
        return int(httpx.get(f"http://{self.ip}:8080/scrapes", timeout=2).text)


def _router_pod(name: str, state: Path) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": ROUTER_LABELS,
            "annotations": {RUNTIME_ANNOTATION: "process"},
        },
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "cpu-0"},
            "containers": [
                {
                    "name": "router",
                    "image": "registry.invalid/fake-router:1",
                    "command": [sys.executable, str(FAKE_ROUTER)],
                    "ports": [{"containerPort": 8080}],
                    "env": [
                        {
                            "name": "POD_IP",
                            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                        },
                        {"name": "PORT", "value": "8080"},
                        {"name": "STATE_FILE", "value": str(state)},
                    ],
                    "startupProbe": {**probe, "failureThreshold": 30},
                    "readinessProbe": probe,
                }
            ],
        },
    }


class Routers:
    """Creates and deletes fake router pods in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str, states: Path) -> None:
        self._core = client.CoreV1Api(api_client)
        self._namespace = namespace
        self._states = states

    def start(self, name: str, inflight: dict[str, int], spilled: dict[str, int]) -> FakeRouter:
        router = FakeRouter(name, self._states / f"{name}.json")
        router.set(inflight, spilled)
        self._core.create_namespaced_pod(self._namespace, _router_pod(name, router.state))

        def ready_ip() -> str | None:
            pod = self._core.read_namespaced_pod(name, self._namespace)
            ready = any(
                c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
            )
            return pod.status.pod_ip if ready else None

        router.ip = eventually(ready_ip, timeout=60, what=f"router pod {name} to be Ready")
        return router

    def delete(self, router: FakeRouter) -> None:
        self._core.delete_namespaced_pod(router.name, self._namespace, grace_period_seconds=0)


@pytest.fixture
def routers(api_client: client.ApiClient, namespace: str, tmp_path: Path) -> Routers:
    return Routers(api_client, namespace, tmp_path)


@pytest.fixture
def operator(
    cluster: ClusterInfo, gptoss_crd: dict[str, Any], namespace: str, tmp_path: Path
) -> Iterator[Path]:
    """The operator, reading router pods labelled ``ROUTER_LABELS`` in the test's namespace."""
    log = tmp_path / "operator.log"
    selector = ",".join(f"{k}={v}" for k, v in ROUTER_LABELS.items())
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
        "GPTOSS_OPERATOR_ROUTER_NAMESPACE": namespace,
        "GPTOSS_OPERATOR_ROUTER_SELECTOR": selector,
        "GPTOSS_OPERATOR_ROUTER_METRICS_PORT": "8080",
    }
    with operator_running(cluster.kubeconfig, log, **env) as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _replicas(api_client: client.ApiClient, namespace: str, name: str) -> int:
    return int(get_cr(api_client, namespace, name)["spec"]["replicas"])


def _read_again(*routers: FakeRouter, times: int = 4) -> None:
    """Wait until the operator has read each router ``times`` more times."""
    starts = {router.name: router.scrapes() for router in routers}
    for router in routers:
        wanted = starts[router.name] + times
        eventually(
            lambda: router.scrapes() >= wanted,  # noqa: B023 (called before the loop moves on)
            timeout=30,
            what=f"the operator to read {router.name} again",
        )


def test_spill_is_summed_over_every_router_pod_for_its_own_deployment_only(
    operator: Path, routers: Routers, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    me, other = f"{namespace}/cold", f"{namespace}/other"
    a = routers.start("router-a", inflight={me: 1, other: 10}, spilled={})
    b = routers.start("router-b", inflight={me: 2}, spilled={})
    autoscaling = {
        "minReplicas": 0,
        "maxReplicas": 3,
        "targetQueueDepth": 2,
        "scaleDownDelay": "10m",
    }
    spec = simulated(autoscaling, replicas=0)
    assert kubectl.apply(namespace, manifest("cold", spec)).returncode == 0

    # 1 + 2 spilled for this deployment over two routers, 2 per replica: two replicas. One
    # router alone would have asked for one; the other deployment's 10 for three.
    eventually(
        lambda: _replicas(api_client, namespace, "cold") == 2,
        timeout=30,
        what="two replicas for the spill of both routers",
    )
    _read_again(a, b)
    cr = get_cr(api_client, namespace, "cold")
    assert cr["spec"]["replicas"] == 2
    assert "spilled 3" in cr["status"]["autoscaling"]["message"]


def test_a_router_restarting_or_replaced_is_no_burst_while_real_growth_scales(
    operator: Path, routers: Routers, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    me = f"{namespace}/steady"
    a = routers.start("router-a", inflight={}, spilled={me: 100})
    b = routers.start("router-b", inflight={}, spilled={me: 50})
    autoscaling = {
        "minReplicas": 1,
        "maxReplicas": 3,
        "targetQueueDepth": 2,
        "scaleDownDelay": "10m",
    }
    assert (
        kubectl.apply(namespace, manifest("steady", simulated(autoscaling, replicas=1))).returncode
        == 0
    )
    eventually(
        lambda: ready_reason(get_cr(api_client, namespace, "steady")) == "Serving",
        timeout=90,
        what="one serving replica",
    )
    _read_again(a, b)

    a.set(inflight={}, spilled={me: 1})  # a restarted and has spilled once since
    routers.delete(b)
    c = routers.start("router-c", inflight={}, spilled={me: 500})  # a new pod with history
    _read_again(a, c)
    assert _replicas(api_client, namespace, "steady") == 1, "a phantom burst scaled up"
    assert "autoscaling" not in get_cr(api_client, namespace, "steady").get("status", {})

    a.set(inflight={}, spilled={me: 21})  # twenty spilled at once: real demand
    eventually(
        lambda: _replicas(api_client, namespace, "steady") == 3,
        timeout=20,
        what="a scale-up for twenty spilled requests",
    )


IDLE = {"minReplicas": 1, "maxReplicas": 3, "targetQueueDepth": 2, "scaleDownDelay": "10m"}


def _metrics_condition(
    api_client: client.ApiClient, namespace: str, name: str, status: str
) -> dict[str, Any] | None:
    found = condition(get_cr(api_client, namespace, name), "MetricsAvailable")
    return found if found is not None and found["status"] == status else None


def _two_idle_replicas(
    api_client: client.ApiClient, namespace: str, kubectl: Kubectl, name: str
) -> dict[str, str]:
    """A GptOssDeployment of two idle ready replicas that may go down to one, but only after
    10 minutes; name -> IP of its pods."""
    assert kubectl.apply(namespace, manifest(name, simulated(IDLE, replicas=2))).returncode == 0
    ips: dict[str, str] = eventually(
        lambda: len(found := ready_pod_ips(api_client, namespace, name)) == 2 and found,
        timeout=90,
        what="two ready replicas",
    )
    return ips


def _no_scale_down_over_four_windows(
    api_client: client.ApiClient, namespace: str, kubectl: Kubectl, name: str
) -> None:
    """Shorten the scale-down window to 2 s, then watch four windows: idle replicas would go
    down to one in the first; they must stay two."""
    patch = json.dumps({"spec": {"autoscaling": {**IDLE, "scaleDownDelay": "2s"}}})
    done = kubectl("patch", "gptoss", name, "-n", namespace, "--type=merge", "-p", patch)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert _replicas(api_client, namespace, name) == 2, "scaled down while blind"
        time.sleep(0.5)


def test_a_replica_whose_metrics_do_not_answer_holds_the_replicas_and_says_why(
    operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    ips = _two_idle_replicas(api_client, namespace, kubectl, "watched")
    silent, ip = sorted(ips.items())[0]
    hang = httpx.put(f"http://{ip}:8000/_sim/faults", json=["hang,path=/metrics"], timeout=5)
    assert hang.status_code == 200, hang.text

    unavailable = eventually(
        lambda: _metrics_condition(api_client, namespace, "watched", "False"),
        timeout=30,
        what="the MetricsAvailable condition to turn False",
    )
    assert unavailable["reason"] == "MetricsUnavailable"
    assert f"pod {silent}" in unavailable["message"]
    _no_scale_down_over_four_windows(api_client, namespace, kubectl, "watched")
    assert ready_pod_ips(api_client, namespace, "watched").keys() == ips.keys()
    warnings = [
        e for e in events(api_client, namespace, "watched") if e.reason == "MetricsUnavailable"
    ]
    assert len(warnings) == 1, [e.message for e in warnings]
    assert warnings[0].type == "Warning"
    assert f"pod {silent}" in warnings[0].message

    cleared = httpx.delete(f"http://{ip}:8000/_sim/faults", timeout=5)
    assert cleared.status_code == 200, cleared.text
    eventually(
        lambda: _replicas(api_client, namespace, "watched") == 1,
        timeout=30,
        what="the scale-down once every replica answers",
    )
    read = eventually(
        lambda: _metrics_condition(api_client, namespace, "watched", "True"),
        timeout=30,
        what="the MetricsAvailable condition back to True",
    )
    assert read["reason"] == "MetricsRead"
    assert any(e.reason == "MetricsAvailable" for e in events(api_client, namespace, "watched"))


def test_a_router_whose_metrics_do_not_answer_holds_the_replicas_too(
    operator: Path, routers: Routers, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    router = routers.start("router-a", inflight={}, spilled={})
    _two_idle_replicas(api_client, namespace, kubectl, "routed")
    router.set(inflight={}, spilled={}, hang=True)
    unavailable = eventually(
        lambda: _metrics_condition(api_client, namespace, "routed", "False"),
        timeout=30,
        what="the MetricsAvailable condition to turn False",
    )
    assert "router router-a" in unavailable["message"]
    _no_scale_down_over_four_windows(api_client, namespace, kubectl, "routed")

    router.set(inflight={}, spilled={})
    eventually(
        lambda: _replicas(api_client, namespace, "routed") == 1,
        timeout=30,
        what="the scale-down once the router answers",
    )
