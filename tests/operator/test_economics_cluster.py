"""The cost policy on the real control plane: spilled demand that costs more hosted than a
replica's GPUs buys a replica, with the CR's own prices and with the defaults (list GPU price,
the router's provider table, the capacity prior), and the CR's status says why in plain words.

The router's endpoint is stood in for by a server exposing its spill, request and token series
with prometheus_client, fed at a steady rate of spilled requests. The operator gets the router's
provider table as the chart mirrors it (``GPTOSS_OPERATOR_PROVIDER_PRICES``), and serves its own
metrics, which show the same decision as time series.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.net import free_port
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
        self._feeding = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Feed from now on (once, however many tests ask)."""
        with self._feeding:
            if not self._started:
                threading.Thread(target=self.feed, daemon=True).start()
                self._started = True

    def feed(self) -> None:
        while not self.stop.wait(0.25):
            self.tick()

    def tick(self) -> None:
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
) -> Iterator[str]:
    """The operator's own /metrics URL, while it runs."""
    log = tmp_path_factory.mktemp("economics") / "operator.log"
    port = free_port()
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
        "GPTOSS_OPERATOR_ROUTER_METRICS_URL": router[1],
        "GPTOSS_OPERATOR_PROVIDER_PRICES": json.dumps(
            {"groq": {"gpt-oss-20b": {"input": 0.075, "output": 0.30}}}
        ),
    }
    with operator_running(cluster.kubeconfig, log, "--metrics-port", str(port), **env) as process:
        yield f"http://127.0.0.1:{port}/metrics"
        assert process.poll() is None, log.read_text()[-3000:]


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Series:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def of(series: Series, metric: str, **labels: str) -> list[float]:
    """The values of ``metric`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return [v for (n, ls), v in series.items() if n == metric and wanted <= ls]


def cheap_gpu_spec() -> dict[str, Any]:
    """A Cost-policy deployment at zero replicas whose GPUs cost far less than the 4
    requests/s the stand-in router spills to groq."""
    autoscaling = {
        "minReplicas": 0,
        "maxReplicas": 1,
        "policy": "Cost",
        "gpuHourlyPrice": 0.01,
        "coldStart": "1s",
    }
    return _elastic(autoscaling, replicas=0, spillover={"providers": ["groq"]})


def test_spilled_demand_dearer_than_a_gpu_buys_a_replica_and_status_shows_both_costs(
    cost_operator: str,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router: tuple[SpillingRouter, str],
) -> None:
    assert kubectl.apply(namespace, manifest("thrifty", cheap_gpu_spec())).returncode == 0
    stand_in, _ = router
    stand_in.start()
    cr = eventually(
        lambda: (
            (c := _cr(api_client, namespace, "thrifty"))["spec"]["replicas"] == 1
            and c.get("status", {}).get("autoscaling", {}).get("reason") == "LocalCheaper"
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


def test_with_default_prices_a_sustained_load_above_break_even_scales_from_zero_to_one(
    cost_operator: str,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router: tuple[SpillingRouter, str],
) -> None:
    # gpt-oss-20b on one H100 at its list price, $2.69/h, against groq's $0.075/$0.30 per
    # million tokens: with two input tokens per output token a hosted output token costs
    # $0.45e-6 and one replica pays above 2.69 / (3600 x 0.45e-6) = 1,660 output tokens/s; at
    # one input token per output token (where the meter's estimate starts) above 1,993. The
    # stand-in router spills 4 requests/s of 1,000 output tokens: 4,000 tokens/s.
    autoscaling = {"minReplicas": 0, "maxReplicas": 1, "policy": "Cost", "coldStart": "10s"}
    spec = _elastic(autoscaling, replicas=0, spillover={"providers": ["groq"]})
    assert kubectl.apply(namespace, manifest("frugal", spec)).returncode == 0
    stand_in, _ = router
    stand_in.start()
    cr = eventually(
        lambda: (
            (c := _cr(api_client, namespace, "frugal"))["spec"]["replicas"] == 1
            and c.get("status", {}).get("autoscaling", {}).get("reason") == "LocalCheaper"
            and c
        ),
        timeout=90,
        what="a replica bought at the default prices, and the reason in status",
    )
    status = cr["status"]["autoscaling"]
    message = status["message"]
    said = re.match(
        r"local is cheaper with 1 replica: demand ([0-9,]+) tok/s, break-even "
        r"([0-9,]+) tok/s for 1 x H100-80GB at \$2\.69/h against groq at "
        r"\$0\.075/\$0\.3 per M tokens; ",
        message,
    )
    assert said is not None, message
    demand, break_even = (float(n.replace(",", "")) for n in said.groups())
    assert 1660 <= break_even <= 1993
    assert break_even < demand
    assert status["localDollarsPerHour"] < status["hostedDollarsPerHour"]


def test_the_operators_metrics_show_the_cost_decision_and_forget_a_deleted_deployment(
    cost_operator: str,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    router: tuple[SpillingRouter, str],
) -> None:
    assert kubectl.apply(namespace, manifest("metered", cheap_gpu_spec())).returncode == 0
    stand_in, _ = router
    stand_in.start()
    who = {"namespace": namespace, "name": "metered"}
    seen = eventually(
        lambda: (
            (s := scrape(cost_operator))
            and of(s, "gptoss_operator_scales_total", direction="up", reason="LocalCheaper", **who)
            == [1.0]
            and s
        ),
        timeout=30,
        what="the operator's metrics counting the scale the cost policy wrote",
    )
    assert of(seen, "gptoss_operator_leader") == [1.0]
    assert of(seen, "gptoss_operator_reconciles_total", outcome="ok")[0] >= 1
    assert of(seen, "gptoss_operator_cost_demand_tokens_per_second", **who)[0] > 0
    [chosen] = of(seen, "gptoss_operator_cost_dollars_per_hour", plan="chosen", **who)
    [hosted] = of(seen, "gptoss_operator_cost_dollars_per_hour", plan="all_hosted", **who)
    assert chosen < hosted
    assert len(of(seen, "gptoss_operator_cost_reason", **who)) == 1  # one reason at a time
    assert of(seen, "gptoss_operator_autoscale_desired_replicas", **who) == [1.0]
    assert _cr(api_client, namespace, "metered")["spec"]["replicas"] == 1

    assert kubectl("delete", "gptossdeployment", "metered", "-n", namespace).returncode == 0
    eventually(
        lambda: (
            not any(
                ("name", "metered") in labels and ("namespace", namespace) in labels
                for _, labels in scrape(cost_operator)
            )
        ),
        timeout=30,
        what="every series of the deleted GptOssDeployment gone from the operator's metrics",
    )
