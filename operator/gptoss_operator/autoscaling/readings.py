"""Where the autoscaler's readings come from (the I/O seam of ``autoscaling``): the ready vLLM
pods of a GptOssDeployment, and every router replica.

Routers are found two ways, together: pods matching ``router_selector`` in
``router_namespace`` (their own ``/metrics`` on ``router_metrics_port``, each pod read on its
own rather than through the router's Service, which would hand every read to whichever pod
its connection lands on), and the static ``router_metrics_url`` list for routers outside a
cluster. A router pod counts once it is Ready and has an IP; one the operator cannot list is
unread, like one that does not answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gptoss_operator import names
from gptoss_operator.autoscaling.decide import Loading
from gptoss_operator.autoscaling.signals import PodQueue, read_pod, read_text
from gptoss_operator.autoscaling.spill import Sample, router_samples
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings

__all__ = [
    "ReplicaReadings",
    "RouterReader",
    "newest_age_s",
    "read_replicas",
    "ready_pods",
    "shown_url",
    "youngest_unready",
]

RouterReadings = dict[str, tuple[Sample, ...] | None]


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions", []) or []
    )
    return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")


def ready_pods(pods: list[dict[str, Any]]) -> dict[str, str]:
    """Name -> IP of the pods that are Ready, have an IP and are not going away."""
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in pods if _ready(p)}


def _created(pod: dict[str, Any]) -> dt.datetime | None:
    stamp = pod["metadata"].get("creationTimestamp")
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def youngest_unready(pods: list[dict[str, Any]], now: dt.datetime) -> Loading | None:
    """The youngest pod that is not Ready yet, has not ended (an evicted pod stays, Failed) and is
    not going away: a replica still loading its weights, or one failing to (None: no such pod)."""
    unready = [
        (created, p["metadata"]["name"])
        for p in pods
        if not _ready(p)
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        and (created := _created(p)) is not None
    ]
    if not unready:
        return None
    created, name = max(unready)
    return Loading(name, max(0.0, (now - created).total_seconds()))


def newest_age_s(pods: list[dict[str, Any]], now: dt.datetime) -> float | None:
    """Seconds since the newest pod not going away was created (None: no such pod); the
    ReplicaSet removes the newest first, so its billing period is the one a scale-down ends."""
    created = [
        dt.datetime.fromisoformat(p["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        for p in pods
        if p["metadata"].get("creationTimestamp") and not p["metadata"].get("deletionTimestamp")
    ]
    return max(0.0, (now - max(created)).total_seconds()) if created else None


@dataclass(frozen=True)
class ReplicaReadings:
    ready: int  # ready replicas, read or not
    queues: dict[str, PodQueue]  # by pod name, those that answered
    unread: tuple[str, ...]  # "pod <name>" of those that did not
    newest_age_s: float | None = None  # of the newest pod, ready or not
    loading: Loading | None = None  # the youngest pod not Ready yet


async def read_replicas(
    kube: Kube, http: httpx.AsyncClient, namespace: str, cr_name: str
) -> ReplicaReadings:
    """Every ready vLLM pod of the GptOssDeployment ``cr_name``, read at once."""
    pods = await asyncio.to_thread(
        kube.list, "v1", "Pod", namespace, labels=names.selector(cr_name)
    )
    ips = ready_pods(pods)
    urls = {name: f"http://{ip}:{names.VLLM_PORT}/metrics" for name, ip in ips.items()}
    read = await asyncio.gather(*(read_pod(http, url) for url in urls.values()))
    queues = {name: q for name, q in zip(urls, read, strict=True) if q is not None}
    unread = tuple(f"pod {name}" for name in urls if name not in queues)
    now = dt.datetime.now(dt.UTC)
    return ReplicaReadings(
        len(ips), queues, unread, newest_age_s(pods, now), youngest_unready(pods, now)
    )


def shown_url(url: str) -> str:
    """``url`` as status and Events may name it: its host, port and path, without the
    credentials (``user:password@``) or the query a metrics endpoint may be given."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port that is not a number: not shown
        port = ""
    return f"{host}{port}{parts.path}" if host else "(a URL that does not parse)"


@dataclass
class RouterReader:
    """Reads every router replica's ``/metrics`` once per tick."""

    kube: Kube
    settings: OperatorSettings
    http: httpx.AsyncClient

    @property
    def enabled(self) -> bool:
        return bool(self.settings.router_selector or self.settings.router_urls)

    async def _sources(self) -> dict[str, str | None]:
        """``router <name>`` -> URL of each router (None: could not be listed)."""
        sources: dict[str, str | None] = {
            f"router {shown_url(u)}": u for u in self.settings.router_urls
        }
        selector = self.settings.router_selector
        if selector:
            port, path = self.settings.router_metrics_port, self.settings.router_metrics_path
            try:
                pods = await asyncio.to_thread(
                    self.kube.list, "v1", "Pod", self.settings.router_namespace, labels=selector
                )
            except KubeError:
                return {**sources, f"router pods ({selector})": None}
            for name, ip in ready_pods(pods).items():
                sources[f"router {name}"] = f"http://{ip}:{port}{path}"
        return sources

    async def read(self) -> RouterReadings:
        """Each router's samples by ``router <name>``; None for one that did not answer."""
        if not self.enabled:
            return {}
        sources = await self._sources()

        async def one(url: str | None) -> tuple[Sample, ...] | None:
            text = None if url is None else await read_text(self.http, url)
            try:
                return None if text is None else router_samples(text)
            except ValueError:
                return None

        read = await asyncio.gather(*(one(url) for url in sources.values()))
        return dict(zip(sources, read, strict=True))
