"""A GptOssDeployment with ``minReplicas: 0`` while the operator reads no router's metrics.

At zero replicas the routers' held and spilled requests are the only demand the autoscaler can
see; with no router source configured it sees none, and nothing would ever scale the deployment
up again. The autoscaler says so once, in a Warning Event and its log, and does not guess: it
scales nothing up for demand it cannot see. Ticks of the real autoscaler against the in-memory
API (``memory_api``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings
from tests.operator.memory_api import MemoryApi, cr

ROUTER = "http://router.test/metrics"


class Cluster(MemoryApi):
    """The in-memory API with a GptOssDeployment at 0 replicas (so no pods), its Events kept,
    and any ``/scale`` recorded."""

    def __init__(self, min_replicas: int) -> None:
        super().__init__()
        autoscaling = {"minReplicas": min_replicas, "maxReplicas": 4, "scaleDownDelay": "2m"}
        spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "replicas": 0}
        self.apply(cr({**spec, "autoscaling": autoscaling}))
        self.events: list[tuple[str, str, str]] = []
        self.scales: list[int] = []

    def list(self, api_version: str, kind: str, namespace: str | None, **labels: Any) -> Any:
        return [] if kind == "Pod" else super().list(api_version, kind, namespace, **labels)

    def scale(self, api_version: str, kind: str, namespace: str, name: str, replicas: int) -> None:
        self.scales.append(replicas)

    def post_event(self, involved: Any, *, type: str, reason: str, message: str, now: str) -> None:
        self.events.append((type, reason, message))


def _held(_: httpx.Request) -> httpx.Response:
    """A router holding five requests for the model."""
    return httpx.Response(
        200,
        text="# TYPE gptoss_router_held_requests gauge\n"
        'gptoss_router_held_requests{model="gpt-oss-20b",deployment="ml/chat"} 5\n',
    )


def _ticks(cluster: Cluster, settings: OperatorSettings, count: int = 5) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_held)) as http:
            autoscaler = Autoscaler(kube=cast(Kube, cluster), settings=settings, http=http)
            for _ in range(count):
                await autoscaler.tick(logging.getLogger("test"))

    asyncio.run(run())


def test_a_deployment_that_may_go_to_zero_with_no_router_read_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = Cluster(min_replicas=0)
    with caplog.at_level(logging.WARNING, logger="test"):
        _ticks(cluster, OperatorSettings())
    assert [(kind, reason) for kind, reason, _ in cluster.events] == [
        ("Warning", "NoRouterMetrics")
    ]
    message = cluster.events[0][2]
    assert "GPTOSS_OPERATOR_ROUTER_SELECTOR nor GPTOSS_OPERATOR_ROUTER_METRICS_URL" in message
    assert "nothing scales this deployment up again" in message
    assert caplog.text.count("minReplicas is 0") == 1, "logged once"


def test_the_autoscaler_does_not_scale_up_for_demand_it_cannot_see() -> None:
    cluster = Cluster(min_replicas=0)
    _ticks(cluster, OperatorSettings())
    assert cluster.scales == []


def test_a_deployment_that_keeps_a_replica_is_not_warned_about() -> None:
    cluster = Cluster(min_replicas=1)
    _ticks(cluster, OperatorSettings(), count=1)
    assert "NoRouterMetrics" not in [reason for _, reason, _ in cluster.events]


def test_with_a_router_read_there_is_no_warning_and_held_requests_scale_up_from_zero() -> None:
    cluster = Cluster(min_replicas=0)
    _ticks(cluster, OperatorSettings(router_metrics_url=ROUTER), count=1)
    assert "NoRouterMetrics" not in [reason for _, reason, _ in cluster.events]
    assert cluster.scales == [1]
