"""Reading the autoscaler's signals: each ready replica's vLLM queue and the router's spilled
demand, both from Prometheus text (the same series dashboards use).

The operator pulls the router's ``/metrics`` rather than the router pushing to the CR: the
operator stays the only writer of replicas, the router needs no write access to the cluster,
and the numbers are exactly the ones Prometheus records. Replicas whose metrics cannot be read
within the timeout are left out of the observation (a slow pod must not hold up scaling of the
others, aibrix #1032, kthena #1403).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["PodQueue", "RouterSpill", "parse_router", "parse_vllm", "read_pod", "read_router"]


@dataclass(frozen=True)
class PodQueue:
    waiting: int
    running: int


@dataclass(frozen=True)
class RouterSpill:
    inflight: int  # gptoss_router_spilled_inflight{model}
    total: int  # gptoss_router_spilled_requests_total{model}, summed over reasons


def _sum(text: str, name: str, model: str | None = None) -> float:
    """Sum of the samples called ``name`` (or ``name_total``), for ``model`` if given."""
    wanted = {name, f"{name}_total"}
    total = 0.0
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            if sample.name not in wanted:
                continue
            if model is not None and sample.labels.get("model") != model:
                continue
            total += sample.value
    return total


def parse_vllm(text: str) -> PodQueue:
    return PodQueue(
        waiting=int(_sum(text, "vllm:num_requests_waiting")),
        running=int(_sum(text, "vllm:num_requests_running")),
    )


def parse_router(text: str, model: str) -> RouterSpill:
    return RouterSpill(
        inflight=int(_sum(text, "gptoss_router_spilled_inflight", model)),
        total=int(_sum(text, "gptoss_router_spilled_requests", model)),
    )


async def read_pod(http: httpx.AsyncClient, url: str) -> PodQueue | None:
    """A replica's queue, or None if it did not answer within the client's timeout."""
    try:
        response = await http.get(url)
        response.raise_for_status()
        return parse_vllm(response.text)
    except (httpx.HTTPError, ValueError):
        return None


async def read_router(http: httpx.AsyncClient, url: str, model: str) -> RouterSpill | None:
    """The router's spilled demand for ``model``, or None if it could not be read."""
    try:
        response = await http.get(url)
        response.raise_for_status()
        return parse_router(response.text, model)
    except (httpx.HTTPError, ValueError):
        return None
