"""Where local pods come from: an interface, the static implementation, and the choice.

A ``Discovery`` keeps ``LocalPools`` (and, for the cluster, the served models' policies in the
``ModelTable``) in step with the world for as long as it runs. The static one copies the
configured pod lists once; the cluster one (``kube_discovery``) watches GptOssDeployments and
their ready pods, and is imported only when chosen (it brings the Kubernetes client).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from gptoss_router.routing.served_models import ModelTable
from gptoss_router.settings import RouterSettings
from gptoss_router.state.pools import LocalPools

__all__ = ["Discovery", "StaticDiscovery", "discovery_for"]


class Discovery(Protocol):
    """Keeps local pools and served models current until cancelled."""

    async def run(self, pools: LocalPools, models: ModelTable) -> None:
        """Fill ``pools`` and keep it current; returns only when there is nothing to watch."""


class StaticDiscovery:
    """Pods listed in the configuration, per model."""

    def __init__(self, settings: RouterSettings) -> None:
        self._settings = settings

    def fill(self, pools: LocalPools) -> None:
        """Copy the configured pods into ``pools`` (synchronously, at start-up)."""
        for model, cfg in self._settings.models.items():
            urls = [url.rstrip("/") for url in cfg.local.pods]
            pools.replace(model, urls, served_model=cfg.local.served_model or model)

    async def run(self, pools: LocalPools, models: ModelTable) -> None:
        """Fill ``pools``; a static list never changes, so this returns at once."""
        self.fill(pools)
        await asyncio.sleep(0)


def discovery_for(settings: RouterSettings) -> Discovery | None:
    """The discovery ``settings`` ask for beyond the static lists (None: nothing to follow)."""
    if settings.discovery != "kubernetes":
        return None
    from gptoss_router.watch.kube import KubeDiscovery  # only when chosen

    return KubeDiscovery(
        namespaces=settings.watched_namespaces(),
        kubeconfig=settings.kubeconfig,
        models_interval_s=settings.tuning.scrape_interval_s,
    )
