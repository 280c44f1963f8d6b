"""The adapter loader: every ``adapter_sync_seconds``, for each GptOssDeployment with adapters
or ``spec.adapterLoading: Runtime``, read each ready pod's ``/v1/models``; at run time, load and
unload adapters until each pod serves ``spec.adapters`` (``decide``); then record on each pod
what it lists (``gptoss.dev/loaded-adapters``), which the reconcile reports in
``status.adapters`` per pod. A pod that is not ready yet, or not answering, is tried on the next
pass, so one that starts later (a scale-up, a restart) gets the adapters too.

A call vLLM refuses (an adapter it cannot find, a rank above ``--max-lora-rank``) is logged and
becomes a Warning Event ``AdapterLoadFailed`` on the CR, once per pod, adapter and message;
it is tried again on every pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gptoss_operator import names
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import GptOssError, KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.loading.decide import Change, PodAdapters, changes
from gptoss_operator.loading.pods import apply_change, read_adapters
from gptoss_operator.placement.adapters import LOADED_ANNOTATION, RUNTIME_LOADING, adapter_paths
from gptoss_operator.settings import OperatorSettings

__all__ = ["AdapterLoader"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


@dataclass
class AdapterLoader:
    kube: Kube
    settings: OperatorSettings
    http: httpx.AsyncClient
    namespaces: tuple[str, ...] = ()
    _reported: set[tuple[str, str, str, str]] = field(default_factory=set)

    async def forever(self, logger: Logger) -> None:
        while True:
            try:
                await self.tick(logger)
            except KubeError as exc:
                logger.warning("adapter loader could not read or annotate: %s", exc)
            await asyncio.sleep(self.settings.adapter_sync_seconds)

    async def tick(self, logger: Logger) -> list[Change]:
        """One pass over every CR; returns the calls vLLM took."""
        crs: list[dict[str, Any]] = []
        for scope in self.namespaces or (None,):
            crs += await asyncio.to_thread(self.kube.list, names.API_VERSION, names.KIND, scope)
        done = await asyncio.gather(*(self._one(cr, logger) for cr in crs))
        return [change for changes_of_cr in done for change in changes_of_cr]

    async def _one(self, cr: dict[str, Any], logger: Logger) -> list[Change]:
        meta = cr["metadata"]
        try:
            spec = GptOssDeploymentSpec.model_validate(cr.get("spec") or {})
            wanted = adapter_paths(meta["name"], spec)
        except (ValueError, GptOssError):
            return []  # the reconcile reports what is wrong with the spec
        runtime = spec.adapter_loading == RUNTIME_LOADING
        if not wanted and not runtime:
            return []
        pods = await asyncio.to_thread(
            self.kube.list, "v1", "Pod", meta["namespace"], labels=names.selector(meta["name"])
        )
        ready = {p["metadata"]["name"]: p for p in pods if _ready(p)}
        views = await self._read(ready)
        taken: list[Change] = []
        if runtime:
            todo = changes(wanted, views)
            results = await asyncio.gather(*(apply_change(self.http, c) for c in todo))
            for change, error in zip(todo, results, strict=True):
                if error is None:
                    taken.append(change)
                    logger.info("%sed adapter %s on pod %s", change.op, change.adapter, change.pod)
                else:
                    await asyncio.to_thread(self._report, cr, change, error, logger)
            if todo:
                views = await self._read(ready)
        for view in views:
            if view.loaded is not None:
                await asyncio.to_thread(self._record, ready[view.pod], view.loaded)
        return taken

    async def _read(self, ready: dict[str, dict[str, Any]]) -> list[PodAdapters]:
        urls = {
            name: f"http://{p['status']['podIP']}:{names.VLLM_PORT}" for name, p in ready.items()
        }
        read = await asyncio.gather(*(read_adapters(self.http, url) for url in urls.values()))
        return [
            PodAdapters(name, url, loaded)
            for (name, url), loaded in zip(urls.items(), read, strict=True)
        ]

    def _record(self, pod: dict[str, Any], loaded: Mapping[str, str]) -> None:
        """Write what the pod lists onto it, if that changed."""
        meta = pod["metadata"]
        text = ",".join(loaded)
        if (meta.get("annotations") or {}).get(LOADED_ANNOTATION) == text:
            return
        body = {"metadata": {"annotations": {LOADED_ANNOTATION: text}}}
        self.kube.merge_patch("v1", "Pod", meta["namespace"], meta["name"], body)

    def _report(self, cr: dict[str, Any], change: Change, error: str, logger: Logger) -> None:
        key = (cr["metadata"]["uid"], change.pod, change.adapter, error)
        message = f"could not {change.op} adapter {change.adapter} on pod {change.pod}: {error}"
        logger.warning("%s/%s: %s", cr["metadata"]["namespace"], cr["metadata"]["name"], message)
        if key in self._reported:
            return
        self._reported.add(key)
        now = dt.datetime.now(dt.UTC).isoformat()
        self.kube.post_event(
            cr, type="Warning", reason="AdapterLoadFailed", message=message, now=now
        )


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")
