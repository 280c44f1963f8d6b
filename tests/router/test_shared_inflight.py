"""What a replica tells the others of its load on the pods: its requests in flight per pod."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from tests.router.router_fakes import sync_loop

from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store_health import StoreHealth


def test_a_replica_publishes_the_requests_in_flight_on_a_pod_over_every_model_it_serves() -> None:
    """A pod serving a base model and an adapter is in both models' pools: the other replicas
    must see all its requests, not the last pool's, or they pile onto it."""
    metrics = RouterMetrics(CollectorRegistry())
    store = MemoryStore()
    gate = Admission(
        [], store, StoreHealth(metrics, clock=time.monotonic), metrics, config=None,
        replicas=lambda: 1,
    )  # fmt: skip
    sync = sync_loop(store, gate, metrics, clock=time.monotonic)
    url = "http://10.0.0.7:8000"
    pools = sync.backends.pools
    pools.replace("gpt-oss-120b", [url], served_model="gpt-oss-120b")
    pools.replace("support-lora", [url], served_model="support-lora")
    base, adapter = pools.get("gpt-oss-120b", url), pools.get("support-lora", url)
    assert base is not None and adapter is not None
    base.inflight, adapter.inflight = 40, 3
    assert dict(sync._outgoing(time.time()).inflight) == {url: 43}
