"""What a replica tells the others of its load on the pods: its requests in flight per pod."""

from __future__ import annotations

import random
import time

from prometheus_client import CollectorRegistry
from tests.router.router_fakes import MODEL, settings, sync_loop

from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.admission import Admission
from gptoss_router.routing.backends import Backends
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


URL = "http://10.0.0.7:8000"


def test_a_pod_serving_an_adapter_is_full_for_the_base_model_when_the_adapter_fills_it() -> None:
    """The router's own view of a pod's load counts its requests for every model it serves,
    as the count it publishes does: ``max_inflight`` bounds the pod, not each pool."""
    backends = Backends(settings(pods=[URL]), clock=time.monotonic, rng=random.Random(0))  # noqa: S311
    pools = backends.pools
    pools.replace(MODEL, [URL], served_model=MODEL)
    pools.replace("support-lora", [URL], served_model="support-lora")
    adapter, base = pools.get("support-lora", URL), pools.get(MODEL, URL)
    assert adapter is not None and base is not None
    adapter.inflight = 3
    base.peer_inflight = adapter.peer_inflight = 2  # as the store sync sets it, per address
    assert backends.pod_view(base, scraped=False).inflight == 5
    assert backends.pod_view(adapter, scraped=False).inflight == 5
