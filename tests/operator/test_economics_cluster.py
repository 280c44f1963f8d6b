"""The cost policy on the real control plane: spilled demand that costs more hosted than a
replica's GPUs buys a replica, and the CR's status says what each option costs per hour.

The router's endpoint is stood in for by a server exposing its spill, request and token series
with prometheus_client, fed at a steady rate of spilled requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.operator.test_autoscaling_cluster import _cr, _elastic
from tests.waiting import eventually


class SpillingRouter:
    """A router stand-in whose providers serve ``per_tick`` requests of one model per 0.25 s."""

    def __init__(self, model: str, per_tick: int) -> None:
        self.registry = CollectorRegistry()
        Gauge("gptoss_router_spilled_inflight", "x", ["model"], registry=self.registry)
        self.spilled = Counter(
            "gptoss_router_spilled_requests", "x", ["model", "reason"], registry=self.registry
        )
        self.requests = Counter(
            "gptoss_router_requests",
            "x",
            ["route", "model", "backend", "outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "gptoss_router_tokens", "x", ["backend", "direction", "outcome"], registry=self.registry
        )
        self.model, self.per_tick = model, per_tick
        self.stop = threading.Event()

    def feed(self) -> None:
        while not self.stop.wait(0.25):
            self.spilled.labels(self.model, "scaled_to_zero").inc(self.per_tick)
            self.requests.labels("chat", self.model, "groq", "ok").inc(self.per_tick)
            self.tokens.labels("groq", "input", "ok").inc(2000 * self.per_tick)
            self.tokens.labels("groq", "output", "ok").inc(1000 * self.per_tick)


@pytest.fixture(scope="module")
def router() -> Iterator[tuple[SpillingRouter, str]]:
    stand_in = SpillingRouter("gpt-oss-20b", per_tick=1)

    server, _ = start_http_server(0, "127.0.0.1", registry=stand_in.registry)
    yield stand_in, f"http://127.0.0.1:{server.server_port}/metrics"
    stand_in.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def cost_operator(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    router: tuple[SpillingRouter, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("economics") / "operator.log"
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
        "GPTOSS_OPERATOR_ROUTER_METRICS_URL": router[1],
    }
    with operator_running(cluster.kubeconfig, log, **env) as process:
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def test_spilled_demand_dearer_than_a_gpu_buys_a_replica_and_status_shows_both_costs(
    cost_operator: Path,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router: tuple[SpillingRouter, str],
) -> None:
    autoscaling = {
        "minReplicas": 0,
        "maxReplicas": 1,
        "policy": "Cost",
        "gpuHourlyPrice": 0.01,  # far below what 4 requests/s cost at the providers
        "coldStart": "1s",
    }
    spec = _elastic(autoscaling, replicas=0, spillover={"providers": ["groq"]})
    assert kubectl.apply(namespace, manifest("thrifty", spec)).returncode == 0
    stand_in, _ = router
    threading.Thread(target=stand_in.feed, daemon=True).start()
    cr = eventually(
        lambda: (
            (c := _cr(api_client, namespace, "thrifty"))["spec"]["replicas"] == 1
            and "autoscaling" in c.get("status", {})
            and c
        ),
        timeout=30,
        what="a replica bought for the spilled demand, and the reason in status",
    )
    status = cr["status"]["autoscaling"]
    assert status["reason"] == "LocalCheaper"
    assert status["demandTokensPerSecond"] > 0
    assert status["localDollarsPerHour"] < status["hostedDollarsPerHour"]
    assert "all hosted $" in status["message"]
