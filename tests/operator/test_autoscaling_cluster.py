"""The built-in autoscaler on the real control plane: replicas follow the queue of the vLLM
simulators running on the pods' IPs and the spilled demand on the router's metrics endpoint.

The router's endpoint is stood in for by a server exposing the router's two spill series with
prometheus_client (what the router itself uses), so each test sets the spilled demand exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION, manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually


@dataclass
class RouterMetrics:
    """A stand-in for the router's /metrics with its spill series."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    url: str = ""

    def __post_init__(self) -> None:
        self.inflight = Gauge(
            "gptoss_router_spilled_inflight", "spilled", ["model"], registry=self.registry
        )
        self.spilled = Counter(
            "gptoss_router_spilled_requests", "spilled", ["model", "reason"], registry=self.registry
        )


@pytest.fixture(scope="module")
def router_metrics() -> Iterator[RouterMetrics]:
    metrics = RouterMetrics()

    server, _ = start_http_server(0, "127.0.0.1", registry=metrics.registry)
    metrics.url = f"http://127.0.0.1:{server.server_port}/metrics"
    yield metrics
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def autoscaling_operator(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    router_metrics: RouterMetrics,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("autoscaler") / "operator.log"
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
        "GPTOSS_OPERATOR_ROUTER_METRICS_URL": router_metrics.url,
    }
    with operator_running(cluster.kubeconfig, log, **env) as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def _cr(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return body


def _ready_reason(cr: dict[str, Any]) -> str | None:
    for condition in cr.get("status", {}).get("conditions", []) or []:
        if condition["type"] == "Ready":
            return str(condition["reason"])
    return None


def _elastic(autoscaling: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB", "count": 1},
        "autoscaling": autoscaling,
        "serving": {"maxNumSeqs": 2, "maxModelLen": 32768},
        "pod": {"annotations": {RUNTIME_ANNOTATION: "vllm-sim", STARTUP_ANNOTATION: "1"}},
        **extra,
    }


class Load:
    """Long streaming requests held open against one vLLM pod until stopped."""

    def __init__(self, url: str, concurrency: int) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url,), daemon=True) for _ in range(concurrency)
        ]

    def _run(self, url: str) -> None:
        body = {
            "model": "gpt-oss-20b",
            "messages": [{"role": "user", "content": "Write a very long story."}],
            "max_tokens": 20000,
            "stream": True,
        }
        while not self._stop.is_set():
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as http,
                    http.stream("POST", f"{url}/v1/chat/completions", json=body) as response,
                ):
                    for _ in response.iter_lines():
                        if self._stop.is_set():
                            break
            except httpx.HTTPError:
                if self._stop.wait(0.2):
                    return

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _trace(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    stop: threading.Event,
    into: list[tuple[float, int]],
) -> None:
    while not stop.wait(0.25):
        replicas = int(_cr(api_client, namespace, name)["spec"]["replicas"])
        if not into or into[-1][1] != replicas:
            into.append((time.monotonic(), replicas))


def test_a_load_step_scales_up_within_seconds_and_down_only_after_the_window(
    autoscaling_operator: Path, api_client: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    window_s = 8
    spec = _elastic(
        {
            "minReplicas": 1,
            "maxReplicas": 3,
            "targetQueueDepth": 2,
            "scaleDownDelay": f"{window_s}s",
        }
    )
    assert kubectl.apply(namespace, manifest("elastic", spec)).returncode == 0
    eventually(
        lambda: _ready_reason(_cr(api_client, namespace, "elastic")) == "Serving",
        timeout=90,
        what="one serving replica",
    )
    core = client.CoreV1Api(api_client)
    (pod,) = core.list_namespaced_pod(
        namespace, label_selector="gptoss.dev/deployment=elastic"
    ).items
    trace: list[tuple[float, int]] = []
    stop_trace = threading.Event()
    tracer = threading.Thread(
        target=_trace, args=(api_client, namespace, "elastic", stop_trace, trace), daemon=True
    )
    tracer.start()
    try:
        with Load(f"http://{pod.status.pod_ip}:8000", concurrency=10):
            started = time.monotonic()
            eventually(
                lambda: trace and trace[-1][1] == 3,
                timeout=30,
                what="replicas to reach maxReplicas under load",
            )
            reaction = next(t for t, r in trace if r > 1) - started
            assert reaction < 15, f"took {reaction:.1f}s to react"
            cr = _cr(api_client, namespace, "elastic")
            assert cr["status"]["autoscaling"]["reason"] == "QueueAboveTarget"
        unloaded = time.monotonic()
        eventually(lambda: trace[-1][1] == 1, timeout=60, what="scale-down after the load")
        scaled_down = next(t for t, r in trace if t > unloaded and r < 3)
        assert scaled_down - unloaded >= window_s - 1
    finally:
        stop_trace.set()
        tracer.join(timeout=10)
    counts = [r for _, r in trace]
    peak = counts.index(max(counts))
    assert counts[: peak + 1] == sorted(counts[: peak + 1]), f"flapped on the way up: {counts}"
    assert counts[peak:] == sorted(counts[peak:], reverse=True), (
        f"flapped on the way down: {counts}"
    )
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=elastic")
    reasons = {e.reason for e in events.items}
    assert {"ScaledUp", "ScaledDown"} <= reasons


def test_spilled_demand_scales_a_deployment_up_from_zero(
    autoscaling_operator: Path,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router_metrics: RouterMetrics,
) -> None:
    spec = _elastic(
        {"minReplicas": 0, "maxReplicas": 2, "targetQueueDepth": 2, "scaleDownDelay": "10m"},
        replicas=0,
    )
    assert kubectl.apply(namespace, manifest("cold", spec)).returncode == 0
    eventually(
        lambda: _ready_reason(_cr(api_client, namespace, "cold")) == "ScaledToZero",
        timeout=60,
        what="the CR to report it is scaled to zero",
    )
    router_metrics.inflight.labels("gpt-oss-20b").set(1)
    try:
        cr = eventually(
            lambda: (
                (c := _cr(api_client, namespace, "cold"))["spec"]["replicas"] == 1
                and "autoscaling" in c.get("status", {})
                and c
            ),
            timeout=20,
            what="a replica for the spilled request, and its reason in status",
        )
        assert cr["status"]["autoscaling"]["desiredReplicas"] == 1
        assert "spilled 1" in cr["status"]["autoscaling"]["message"]
    finally:
        router_metrics.inflight.labels("gpt-oss-20b").set(0)
    eventually(
        lambda: _ready_reason(_cr(api_client, namespace, "cold")) == "Serving",
        timeout=90,
        what="the new replica to serve",
    )
