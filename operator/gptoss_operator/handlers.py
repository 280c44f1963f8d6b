"""Kopf wiring, and only that: which events trigger a reconcile, and how the operator's errors
become Kopf's retry decisions (the one place that translation happens).

Triggers, all level-based: create/update/resume of a GptOssDeployment, the resync task, and any
change of a pod or Deployment the operator manages (so status follows readiness within a second
instead of a resync period). Running, coalescing and the resync are
``gptoss_operator.reconciling.runner``'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import kopf
from prometheus_client import CollectorRegistry

from gptoss_operator import names
from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.errors import InvalidSpec, KubeConflict, KubeRejected, KubeUnavailable
from gptoss_operator.kube.client import Kube
from gptoss_operator.loading.loop import AdapterLoader
from gptoss_operator.metrics import OperatorMetrics
from gptoss_operator.reconciling.planning import vllm_clients
from gptoss_operator.reconciling.runner import Runner
from gptoss_operator.settings import OperatorSettings

__all__ = ["build_registry"]

MANAGED = {"app.kubernetes.io/managed-by": "gptoss-operator"}


def build_registry(
    settings: OperatorSettings,
    kube: Kube,
    *,
    namespaces: tuple[str, ...] = (),
    metrics: OperatorMetrics | None = None,
) -> kopf.OperatorRegistry:
    """Every handler of the operator, registered on a fresh registry (no module state).

    ``namespaces`` limits the resync to those namespaces (empty: the whole cluster), matching
    what Kopf itself is told to watch; ``metrics``: where reconciles and autoscaling are
    counted (a registry of their own when not given).
    """
    registry = kopf.OperatorRegistry()
    operator_settings = settings
    counted = metrics or OperatorMetrics(CollectorRegistry())
    runner = Runner(kube, settings, namespaces=namespaces, metrics=counted)
    resource = (names.GROUP, names.VERSION, names.PLURAL)

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    @kopf.on.update(*resource, registry=registry, field="spec")
    def on_change(body: kopf.Body, logger: Any, **_: Any) -> None:
        try:
            runner.run(dict(body), logger)
        except (KubeUnavailable, KubeConflict) as exc:
            raise kopf.TemporaryError(str(exc), delay=5) from exc
        except (InvalidSpec, KubeRejected) as exc:
            raise kopf.PermanentError(str(exc)) from exc

    @kopf.on.startup(registry=registry)
    async def start(
        settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any
    ) -> None:
        configure(settings)
        if vllm_clients(operator_settings) is None:
            logger.warning(
                "vLLM pods are not fenced: any pod may reach their port 8000. Set "
                "GPTOSS_OPERATOR_VLLM_CLIENTS_NAMESPACE and GPTOSS_OPERATOR_VLLM_CLIENT_LABELS "
                "(the chart does) for a NetworkPolicy per GptOssDeployment"
            )
        http = httpx.AsyncClient(timeout=httpx.Timeout(1.0))
        autoscaler = Autoscaler(
            kube, operator_settings, http, namespaces=namespaces, metrics=counted
        )
        memo["http"] = http
        memo["tasks"] = [
            asyncio.create_task(runner.resync_forever(logger), name="gptoss-resync"),
            asyncio.create_task(autoscaler.forever(logger), name="gptoss-autoscaler"),
            asyncio.create_task(
                AdapterLoader(kube, operator_settings, http, namespaces=namespaces).forever(logger),
                name="gptoss-adapters",
            ),
        ]

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        for task in memo.get("tasks", []):
            task.cancel()
        http = memo.get("http")
        if isinstance(http, httpx.AsyncClient):
            await http.aclose()

    @kopf.on.event("v1", "pods", registry=registry, labels=MANAGED)
    @kopf.on.event("apps", "v1", "deployments", registry=registry, labels=MANAGED)
    def on_child(body: kopf.Body, logger: Any, **_: Any) -> None:
        labels = body.get("metadata", {}).get("labels", {})
        runner.owner_changed(
            body["metadata"]["namespace"], labels.get(names.DEPLOYMENT_LABEL), logger
        )

    return registry


def configure(settings: kopf.OperatorSettings) -> None:
    """Kopf's own settings: where it keeps its state, and what it posts as Events."""
    settings.persistence.finalizer = "gptoss.dev/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="gptoss.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="gptoss.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events are posted explicitly
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30
