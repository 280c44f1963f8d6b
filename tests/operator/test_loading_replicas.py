"""A replica still loading its weights is not given back when the requests held for it time out.

The router holds a request for a model with no Ready replica for two minutes
(``hold_timeout_s``), and the Queue policy counts it as demand while it is held; a cold start is
often longer than that plus ``scaleDownDelay``. The autoscaler therefore holds the replicas
while one it asked for is loading, until it is Ready (``scaleDownDelay`` then counts) or until
the operator's startup timeout has passed (a replica that never turns Ready is not kept for
good). Driven tick by tick through the real autoscaler against the in-memory API
(``memory_api``), with pods that turn Ready a cold start after they are created.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, cast

import httpx

from gptoss_operator import names
from gptoss_operator.autoscaling.decide import Loading, still_loading
from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.autoscaling.readings import youngest_unready
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings
from tests.operator.memory_api import MemoryApi, cr

ROUTER = "http://router.test/metrics"
HOLD_S = 120.0  # how long the router holds a request for a model with no Ready replica
STEP_S = 5.0  # between the autoscaler's ticks
DELAY_S = 120.0
AUTOSCALING = {"minReplicas": 0, "maxReplicas": 4, "targetQueueDepth": 4, "scaleDownDelay": "2m"}


class Cluster(MemoryApi):
    """The in-memory API with what the autoscaler also calls: the ``/scale`` of the CR makes
    or removes its vLLM pods (the newest first, as a ReplicaSet does), each Ready
    ``cold_start_s`` after it was created (never, if None); Events are kept. One request
    arrives at each time of ``requests`` and is held by the router until a replica is Ready
    or ``HOLD_S`` passed."""

    def __init__(self, *, cold_start_s: float | None, requests: tuple[float, ...]) -> None:
        super().__init__()
        self.now = 0.0
        self.cold_start_s = cold_start_s
        self.requests = requests
        self.pods: list[tuple[str, float]] = []  # name, created at
        self.made = 0
        self.events: list[tuple[float, str, str]] = []
        spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "replicas": 0}
        self.apply(cr({**spec, "autoscaling": AUTOSCALING}))

    def _is_ready(self, created: float) -> bool:
        return self.cold_start_s is not None and self.now - created >= self.cold_start_s

    def ready(self) -> int:
        return sum(self._is_ready(created) for _, created in self.pods)

    def _pod(self, name: str, created: float) -> dict[str, Any]:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.now - created)
        ready = "True" if self._is_ready(created) else "False"
        return {
            "metadata": {"name": name, "creationTimestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "status": {
                "phase": "Running",
                "podIP": f"10.0.0.{name.rsplit('-', 1)[1]}",
                "conditions": [{"type": "Ready", "status": ready}],
            },
        }

    def list(self, api_version: str, kind: str, namespace: str | None, **labels: Any) -> Any:
        if kind == "Pod":
            return [self._pod(name, created) for name, created in self.pods]
        return super().list(api_version, kind, namespace, **labels)

    def scale(self, api_version: str, kind: str, namespace: str, name: str, replicas: int) -> None:
        self.one(names.KIND)["spec"]["replicas"] = replicas
        while len(self.pods) < replicas:
            self.made += 1
            self.pods.append((f"chat-vllm-{self.made}", self.now))
        del self.pods[replicas:]

    def post_event(self, involved: Any, *, type: str, reason: str, message: str, now: str) -> None:
        self.events.append((self.now, reason, message))

    def held(self) -> int:
        if self.ready():
            return 0
        return sum(1 for at in self.requests if at <= self.now < at + HOLD_S)

    def answer(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == ROUTER:
            labels = 'model="gpt-oss-20b",deployment="ml/chat"'
            return httpx.Response(
                200,
                text="# TYPE gptoss_router_held_requests gauge\n"
                f"gptoss_router_held_requests{{{labels}}} {self.held()}\n",
            )
        return httpx.Response(  # a Ready replica with nothing to do
            200,
            text="# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting 0\n"
            "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n",
        )

    def scaled(self, direction: str) -> tuple[float, ...]:
        """When the autoscaler posted ``ScaledUp`` or ``ScaledDown``."""
        return tuple(at for at, reason, _ in self.events if reason == direction)

    def run(self, until: float, *, startup_timeout_s: int = 3600) -> None:
        """Tick the autoscaler every ``STEP_S`` from now to ``until``."""
        settings = OperatorSettings(
            router_metrics_url=ROUTER, startup_timeout_seconds=startup_timeout_s
        )

        async def ticks() -> None:
            transport = httpx.MockTransport(self.answer)
            async with httpx.AsyncClient(transport=transport) as http:
                autoscaler = Autoscaler(
                    kube=cast(Kube, self),
                    settings=settings,
                    http=http,
                    clock=lambda: self.now,
                    wall=lambda: self.now,
                )
                while self.now <= until:
                    await autoscaler.tick(logging.getLogger("test"))
                    self.now += STEP_S

        asyncio.run(ticks())


def test_a_replica_still_loading_is_kept_when_the_request_held_for_it_times_out() -> None:
    cluster = Cluster(cold_start_s=900.0, requests=(0.0,))
    cluster.run(until=900.0)
    assert cluster.scaled("ScaledUp") == (0.0,)
    assert cluster.scaled("ScaledDown") == (), "given back while it loaded"
    assert cluster.ready() == 1


def test_a_move_down_that_waits_for_a_loading_replica_says_so_once() -> None:
    cluster = Cluster(cold_start_s=900.0, requests=(0.0,))
    cluster.run(until=900.0)
    said = [message for _, reason, message in cluster.events if reason == "ReplicaLoading"]
    assert len(said) == 1
    assert said[0].startswith("chat-vllm-1 is still loading")
    assert "until it is Ready or the operator's startup timeout of 60 min" in said[0]


def test_a_replica_is_given_back_a_scale_down_delay_after_it_turned_ready_if_idle() -> None:
    cluster = Cluster(cold_start_s=900.0, requests=(0.0,))
    cluster.run(until=900.0 + DELAY_S + 30.0)
    assert cluster.scaled("ScaledDown") == (900.0 + DELAY_S,)
    assert cluster.pods == []


def test_a_replica_never_ready_is_held_only_until_the_startup_timeout_then_a_delay() -> None:
    cluster = Cluster(cold_start_s=None, requests=(0.0,))
    cluster.run(until=600.0 + DELAY_S + 30.0, startup_timeout_s=600)
    assert cluster.scaled("ScaledDown") == (600.0 + DELAY_S,)
    assert cluster.pods == []


def test_only_a_replica_missing_from_the_ready_ones_holds_them() -> None:
    loading = Loading("chat-vllm-3", 60.0)
    assert still_loading(loading, ready=1, current=2, startup_timeout_s=3600) == loading
    surge = still_loading(loading, ready=2, current=2, startup_timeout_s=3600)
    assert surge is None, "a rollout's extra pod does not hold the replicas asked for"
    late = still_loading(Loading("chat-vllm-3", 3600.0), ready=1, current=2, startup_timeout_s=3600)
    assert late is None


def test_an_evicted_or_terminating_pod_is_not_taken_for_a_loading_one() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

    def pod(name: str, created: str, **status: Any) -> dict[str, Any]:
        meta = {"name": name, "creationTimestamp": created}
        return {"metadata": meta | status.pop("meta", {}), "status": status}

    ready = [{"type": "Ready", "status": "True"}]
    pods = [
        pod("serving", "2026-11-25T10:00:00Z", phase="Running", podIP="10.0.0.1", conditions=ready),
        pod("evicted", "2026-11-25T11:59:00Z", phase="Failed"),
        pod("going", "2026-11-25T11:59:30Z", phase="Running", meta={"deletionTimestamp": "x"}),
        pod("loading", "2026-11-25T11:50:00Z", phase="Pending"),
    ]
    assert youngest_unready(pods, now) == Loading("loading", 600.0)
    assert youngest_unready(pods[:3], now) is None
