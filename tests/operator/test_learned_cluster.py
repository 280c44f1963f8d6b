"""What the cost policy learns outlives the operator, on the real control plane: it is kept in
``status.autoscaling.learned`` (the CRD's schema keeps every field of it), read back by the
next operator process, and a replica kept warm for bursts stays warm across the restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.net import free_port
from gptoss_operator.autoscaling.capacity import CapacityEstimate
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.learned import Subject
from gptoss_operator.autoscaling.remembering import Remembering
from gptoss_operator.autoscaling.standby import Burst, BurstMemory
from gptoss_operator.kube.client import connect
from gptoss_operator.reconciling.runner import Runner
from gptoss_operator.settings import OperatorSettings
from tests.operator.conftest import Kubectl
from tests.operator.crs import get_cr, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.operator.test_economics_cluster import SpillingRouter
from tests.waiting import eventually

SUBJECT = Subject("gpt-oss-20b on 1 x H100-80GB", "groq")
WALL = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC).timestamp()
LOG = logging.getLogger("test")


def _learned(cr: dict[str, Any]) -> dict[str, Any]:
    return dict(cr.get("status", {}).get("autoscaling", {}).get("learned") or {})


def _state() -> CostState:
    return CostState(
        capacity=CapacityEstimate(1513.4, 7),
        bursts=BurstMemory(2153.0, [Burst(-600.0, -300.0, 1110.0)]),
    )


def test_the_learned_state_is_kept_whole_in_status_and_read_back_by_a_new_process(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a CR of the Cost policy: the reconciler clears status.autoscaling of a CR without one
    cost = simulated({"policy": "Cost", "minReplicas": 1, "maxReplicas": 2})
    assert kubectl.apply(namespace, manifest("learner", cost)).returncode == 0
    kube = connect(str(cluster.kubeconfig))
    first = Remembering(kube)
    cr = get_cr(api_client, namespace, "learner")
    state = _state()
    state.governor.returns.gaps.extend([420.0, 3600.0])
    state.governor.returns.released_at = -60.0
    assert first.recall(cr, SUBJECT, now=0.0, wall=WALL, logger=LOG).capacity.value is None
    asyncio.run(first.keep(cr, CostState(), SUBJECT, now=0.0, wall=WALL))
    assert _learned(get_cr(api_client, namespace, "learner")) == {}  # nothing to keep yet
    asyncio.run(first.keep(cr, state, SUBJECT, now=0.0, wall=WALL))
    kept = _learned(get_cr(api_client, namespace, "learner"))
    # the schema pruned nothing
    assert kept == {
        "replicaOf": "gpt-oss-20b on 1 x H100-80GB",
        "replicaTokensPerSecond": 1513.4,
        "replicaSamples": 7,
        "providersOf": "groq",
        "providersTokensPerSecond": 2153.0,
        "bursts": [
            {
                "start": "2026-12-01T08:50:00Z",
                "last": "2026-12-01T08:55:00Z",
                "excessTokensPerSecond": 1110.0,
            }
        ],
        "demandReturnedAfterSeconds": [420.0, 3600.0],
        "releasedAt": "2026-12-01T08:59:00Z",
        "writtenAt": "2026-12-01T09:00:00Z",
    }

    # a reconcile's own status writes leave it alone
    Runner(kube, OperatorSettings()).run(get_cr(api_client, namespace, "learner"), LOG)
    assert _learned(get_cr(api_client, namespace, "learner")) == kept

    # a figure that only moved waits for the minute...
    state.capacity.value = 1520.0
    asyncio.run(first.keep(cr, state, SUBJECT, now=30.0, wall=WALL + 30.0))
    assert _learned(get_cr(api_client, namespace, "learner")) == kept
    # ... a new fact does not: demand came back two minutes after the move down
    state.governor.returns.rose(60.0)
    asyncio.run(first.keep(cr, state, SUBJECT, now=40.0, wall=WALL + 40.0))
    now_kept = _learned(get_cr(api_client, namespace, "learner"))
    assert "releasedAt" not in now_kept  # what is no longer so is removed
    assert now_kept["demandReturnedAfterSeconds"] == [420.0, 3600.0, 120.0]
    assert now_kept["replicaTokensPerSecond"] == 1520.0
    assert now_kept["writtenAt"] == "2026-12-01T09:00:40Z"

    # the next process reads it back as it was, and has nothing new to write
    second = Remembering(kube)
    restored = second.recall(
        get_cr(api_client, namespace, "learner"), SUBJECT, now=5.0, wall=WALL + 65.0, logger=LOG
    )
    assert (restored.capacity.value, restored.bursts.providers) == (1520.0, 2153.0)
    assert [b.excess for b in restored.bursts.bursts] == [1110.0]
    assert list(restored.governor.returns.gaps) == [420.0, 3600.0, 120.0]
    asyncio.run(second.keep(cr, restored, SUBJECT, now=200.0, wall=WALL + 260.0))
    assert _learned(get_cr(api_client, namespace, "learner"))["writtenAt"] == "2026-12-01T09:00:40Z"

    # a process whose replicas moved to other GPUs drops the capacity, says so, and writes
    # what it kept without it at its first tick
    other = Subject("gpt-oss-20b on 2 x H100-80GB", "groq")
    third = Remembering(kube)
    with caplog.at_level(logging.WARNING, logger="test"):
        moved = third.recall(
            get_cr(api_client, namespace, "learner"), other, now=0.0, wall=WALL + 300.0, logger=LOG
        )
    assert "the capacity was learned of 'gpt-oss-20b on 1 x H100-80GB'" in caplog.text
    asyncio.run(third.keep(cr, moved, other, now=0.0, wall=WALL + 300.0))
    rewritten = _learned(get_cr(api_client, namespace, "learner"))
    assert "replicaTokensPerSecond" not in rewritten and "replicaSamples" not in rewritten
    assert rewritten["replicaOf"] == "gpt-oss-20b on 2 x H100-80GB"
    assert rewritten["providersTokensPerSecond"] == 2153.0


class TurningAwayRouter(SpillingRouter):
    """The stand-in router of ``test_economics_cluster``, spilling a request of gpt-oss-20b
    every 0.25 s; while ``turning_away`` is set it also finds no backend for three more."""

    def __init__(self) -> None:
        super().__init__("gpt-oss-20b", per_tick=1)
        self.turning_away = threading.Event()

    def tick(self) -> None:
        super().tick()
        if self.turning_away.is_set():
            self.requests.labels("chat", self.model, "none", "no_backend").inc(3)


@pytest.fixture
def router() -> Iterator[tuple[TurningAwayRouter, str]]:
    stand_in = TurningAwayRouter()
    server, _ = start_http_server(0, "127.0.0.1", registry=stand_in.registry)
    feeding = threading.Thread(target=stand_in.feed, daemon=True)
    feeding.start()
    yield stand_in, f"http://127.0.0.1:{server.server_port}/metrics"
    stand_in.stop.set()
    feeding.join()
    server.shutdown()
    server.server_close()


def _series(url: str, metric: str, namespace: str, name: str) -> dict[str, float]:
    """The deployment's samples of ``metric`` on the operator's own /metrics, by reason."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return {}  # not serving yet
    return {
        sample.labels.get("reason", ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
        and (sample.labels.get("namespace"), sample.labels.get("name")) == (namespace, name)
    }


def _reason(url: str, namespace: str, name: str) -> str | None:
    """The cost reason the operator's metrics say it holds for the deployment."""
    held = _series(url, "gptoss_operator_cost_reason", namespace, name)
    return next((reason for reason, value in held.items() if value == 1), None)


def test_a_replica_kept_warm_for_bursts_stays_warm_when_the_operator_restarts(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router: tuple[TurningAwayRouter, str],
    tmp_path: Path,
) -> None:
    stand_in, url = router
    # GPUs so dear that the dollars alone never keep a replica for this demand
    autoscaling = {
        "minReplicas": 0,
        "maxReplicas": 1,
        "policy": "Cost",
        "coldStart": "1s",
        "gpuHourlyPrice": 500,
        "burstStandby": "1h",
    }
    spec = simulated(autoscaling, replicas=0, spillover={"providers": ["groq"]})
    assert kubectl.apply(namespace, manifest("warm", spec)).returncode == 0
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
        "GPTOSS_OPERATOR_ROUTER_METRICS_URL": url,
        "GPTOSS_OPERATOR_PROVIDER_PRICES": json.dumps(
            {"groq": {"gpt-oss-20b": {"input": 0.075, "output": 0.30}}}
        ),
    }
    first_port, second_port = free_port(), free_port()
    with operator_running(
        cluster.kubeconfig, tmp_path / "first.log", "--metrics-port", str(first_port), **env
    ):
        stand_in.turning_away.set()  # a burst past the provider
        eventually(
            lambda: get_cr(api_client, namespace, "warm")["spec"]["replicas"] == 1,
            timeout=60,
            what="a replica bought for the requests no backend took",
        )
        stand_in.turning_away.clear()  # the burst is over; the standby holds the replica
        first = f"http://127.0.0.1:{first_port}/metrics"
        eventually(
            lambda: _reason(first, namespace, "warm") == "BurstStandby",
            timeout=120,
            what="the first operator holding the replica for the bursts it saw",
        )
        learned = eventually(
            lambda: (c := _learned(get_cr(api_client, namespace, "warm"))).get("bursts") and c,
            timeout=90,
            what="the burst kept in status.autoscaling.learned",
        )
        assert learned["providersOf"] == "groq"
        assert learned["providersTokensPerSecond"] > 0
    with operator_running(
        cluster.kubeconfig, tmp_path / "second.log", "--metrics-port", str(second_port), **env
    ) as process:
        second = f"http://127.0.0.1:{second_port}/metrics"
        eventually(
            lambda: _reason(second, namespace, "warm") == "BurstStandby",
            timeout=60,
            what="the restarted operator holding the replica for the bursts the first one saw",
        )
        assert get_cr(api_client, namespace, "warm")["spec"]["replicas"] == 1
        # kubectl says why, with -o wide
        wide = kubectl("get", "gptossdeployment", "warm", "-n", namespace, "-o", "wide")
        assert wide.returncode == 0, wide.stderr
        header, row = wide.stdout.splitlines()
        assert row[header.index("SCALING") :].split()[0] == "BurstStandby"  # columns align
        # what the first one learned the providers take, from the new process's first ticks
        providers = "gptoss_operator_cost_providers_tokens_per_second"
        assert _series(second, providers, namespace, "warm")[""] > 0
        log = (tmp_path / "second.log").read_text()
        assert f"scaled {namespace}/warm" not in log, log[-2000:]
        assert process.poll() is None
