"""Kopf wiring, and only that: which events run ``reconcile``, and how the operator's errors
become Kopf's retry decisions (the one place that translation happens).

Triggers, all level-based: create/update/resume of a GptOssDeployment, a resync timer that
re-reads every CR each ``resync_seconds``, and any change of a pod or Deployment the operator
manages (so status follows readiness within a second instead of a timer period). Runs for the
same CR coalesce: while one runs, further triggers mark it dirty and it runs once more.

The timer is a task of the operator, not a Kopf per-object timer: those put a finalizer on
every CR, and nothing outside the cluster needs cleaning when a CR goes (owner references do
the rest), so a CR never waits for the operator to be deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import kopf

from gptoss_operator import names
from gptoss_operator.autoscaler import Autoscaler
from gptoss_operator.errors import InvalidSpec, KubeConflict, KubeRejected, KubeUnavailable
from gptoss_operator.kube import Kube
from gptoss_operator.reconcile import reconcile
from gptoss_operator.settings import OperatorSettings

__all__ = ["Coalescer", "build_registry"]

MANAGED = {"app.kubernetes.io/managed-by": "gptoss-operator"}


@dataclass
class Coalescer:
    """At most one run per key at a time; triggers during a run cause exactly one rerun."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: set[str] = field(default_factory=set)
    _dirty: set[str] = field(default_factory=set)

    def enter(self, key: str) -> bool:
        """True if the caller should run now; False if a running caller will rerun for it."""
        with self._lock:
            if key in self._running:
                self._dirty.add(key)
                return False
            self._running.add(key)
            return True

    def leave(self, key: str) -> bool:
        """True if the caller must run again (it was triggered meanwhile); else the key is free."""
        with self._lock:
            if key in self._dirty:
                self._dirty.discard(key)
                return True
            self._running.discard(key)
            return False

    def abandon(self, key: str) -> None:
        """Free the key after a run failed (the failure's retry will trigger it again)."""
        with self._lock:
            self._running.discard(key)
            self._dirty.discard(key)


def build_registry(
    settings: OperatorSettings, kube: Kube, *, namespaces: tuple[str, ...] = ()
) -> kopf.OperatorRegistry:
    """Every handler of the operator, registered on a fresh registry (no module state).

    ``namespaces`` limits the resync to those namespaces (empty: the whole cluster), matching
    what Kopf itself is told to watch.
    """
    registry = kopf.OperatorRegistry()
    operator_settings = settings
    coalescer = Coalescer()
    resource = (names.GROUP, names.VERSION, names.PLURAL)

    def run(body: dict[str, Any], logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        if not coalescer.enter(key):
            return
        try:
            while True:
                outcome = reconcile(body, kube, settings, now=dt.datetime.now(dt.UTC))
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                for event in outcome.events:
                    kube.post_event(
                        body, type=event.type, reason=event.reason, message=event.message, now=stamp
                    )
                if outcome.status_written:
                    logger.info("status: %s", _summary(outcome.status))
                if not coalescer.leave(key):
                    return
                fresh = kube.get(names.API_VERSION, names.KIND, *key.split("/", 1))
                if fresh is None:
                    coalescer.abandon(key)
                    return
                body = fresh
        except BaseException:
            coalescer.abandon(key)
            raise

    def translated(body: dict[str, Any], logger: Any) -> None:
        try:
            run(body, logger)
        except (KubeUnavailable, KubeConflict) as exc:
            raise kopf.TemporaryError(str(exc), delay=5) from exc
        except (InvalidSpec, KubeRejected) as exc:
            raise kopf.PermanentError(str(exc)) from exc

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    @kopf.on.update(*resource, registry=registry, field="spec")
    def on_change(body: kopf.Body, logger: Any, **_: Any) -> None:
        translated(dict(body), logger)

    def resync_once(logger: logging.Logger) -> None:
        scopes: tuple[str | None, ...] = namespaces or (None,)
        checked = 0
        for scope in scopes:
            for cr in kube.list(names.API_VERSION, names.KIND, scope):
                checked += 1
                try:
                    run(cr, logger)
                except (KubeUnavailable, KubeConflict, KubeRejected, InvalidSpec) as exc:
                    logger.warning(
                        "resync of %s/%s failed: %s",
                        cr["metadata"]["namespace"],
                        cr["metadata"]["name"],
                        exc,
                    )
        logger.info("resync: %d GptOssDeployments checked", checked)

    async def resync_forever(logger: logging.Logger) -> None:
        while True:
            await asyncio.sleep(settings.resync_seconds)
            try:
                await asyncio.to_thread(resync_once, logger)
            except (KubeUnavailable, KubeConflict, KubeRejected) as exc:
                logger.warning("resync could not list GptOssDeployments: %s", exc)

    @kopf.on.startup(registry=registry)
    async def start(
        settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Any, **_: Any
    ) -> None:
        configure(settings)
        http = httpx.AsyncClient(timeout=httpx.Timeout(1.0))
        autoscaler = Autoscaler(kube, operator_settings, http, namespaces=namespaces)
        memo["http"] = http
        memo["tasks"] = [
            asyncio.create_task(resync_forever(logger), name="gptoss-resync"),
            asyncio.create_task(autoscaler.forever(logger), name="gptoss-autoscaler"),
        ]

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        for task in memo.get("tasks", []):
            task.cancel()
        http = memo.get("http")
        if isinstance(http, httpx.AsyncClient):
            await http.aclose()

    def owner_changed(namespace: str, owner: str | None, logger: Any) -> None:
        if not owner:
            return
        try:
            cr = kube.get(names.API_VERSION, names.KIND, namespace, owner)
            if cr is not None:
                run(cr, logger)
        except (KubeUnavailable, KubeConflict, KubeRejected) as exc:
            logger.warning(
                "reconcile of %s/%s after a child changed failed: %s", namespace, owner, exc
            )

    @kopf.on.event("v1", "pods", registry=registry, labels=MANAGED)
    @kopf.on.event("apps", "v1", "deployments", registry=registry, labels=MANAGED)
    def on_child(body: kopf.Body, logger: Any, **_: Any) -> None:
        labels = body.get("metadata", {}).get("labels", {})
        owner_changed(body["metadata"]["namespace"], labels.get(names.DEPLOYMENT_LABEL), logger)

    return registry


def _summary(status: dict[str, Any]) -> str:
    parts = [f"{c['type']}={c['status']}({c['reason']})" for c in status.get("conditions", [])]
    return f"{status.get('readyReplicas', 0)}/{status.get('replicas', 0)} ready, " + " ".join(parts)


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
