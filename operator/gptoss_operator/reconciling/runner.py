"""Running reconciles: one at a time per GptOssDeployment, coalescing triggers, and the resync.

Every trigger (a CR changed, a child changed, the resync timer) ends in ``Runner.run``. Runs for
the same CR coalesce: while one runs, further triggers mark it dirty and it runs once more, with
the CR read afresh. The resync is a task of the operator, not a Kopf per-object timer: those put a
finalizer on every CR, and nothing outside the cluster needs cleaning when a CR goes (owner
references do the rest), so a CR never waits for the operator to be deleted.

A run writes status only onto the CR it read (``reconcile``): the autoscaler writes conditions
too (``MetricsAvailable``), and a merge patch replaces the conditions list whole, so a status
computed from an older read would take its condition away. When the CR changed meanwhile, the
run reads it again and reconciles that, up to ``STALE_RETRIES`` times in a row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from gptoss_operator import names
from gptoss_operator.errors import InvalidSpec, KubeConflict, KubeRejected, KubeUnavailable
from gptoss_operator.kube.client import Kube
from gptoss_operator.metrics import OperatorMetrics
from gptoss_operator.reconciling.outcome import Outcome
from gptoss_operator.reconciling.reconcile import reconcile
from gptoss_operator.settings import OperatorSettings

__all__ = ["STALE_RETRIES", "Coalescer", "Runner"]

STALE_RETRIES = 5  # reads in a row that another writer may overtake before the run gives up

Logger = logging.Logger | logging.LoggerAdapter[Any]


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


class Runner:
    """Reconciles GptOssDeployments through one ``Kube``, one run per CR at a time."""

    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        *,
        namespaces: tuple[str, ...] = (),
        metrics: OperatorMetrics | None = None,
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._namespaces = namespaces
        self._metrics = metrics or OperatorMetrics(CollectorRegistry())
        self._coalescer = Coalescer()
        self._upgrade_gate = threading.Lock()  # one budget check and apply at a time

    def run(self, body: dict[str, Any], logger: Logger) -> None:
        """Reconcile ``body``'s CR now, or have the run in progress for it run once more."""
        kube, coalescer = self._kube, self._coalescer
        key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        if not coalescer.enter(key):
            return
        stale = 0
        try:
            while True:
                try:
                    outcome = self._reconcile(body)
                except KubeConflict:
                    stale += 1
                    if stale > STALE_RETRIES:
                        raise
                    fresh = kube.get(names.API_VERSION, names.KIND, *key.split("/", 1))
                    if fresh is None:  # deleted meanwhile: nothing left to write
                        coalescer.abandon(key)
                        return
                    body = fresh  # another writer changed it since it was read: once more
                    continue
                stale = 0
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

    def _reconcile(self, body: dict[str, Any]) -> Outcome:
        """One reconcile of ``body``, timed and counted by outcome."""
        started, result = time.perf_counter(), "error"
        try:
            outcome = reconcile(
                body,
                self._kube,
                self._settings,
                now=dt.datetime.now(dt.UTC),
                upgrade_gate=self._upgrade_gate,
                namespaces=self._namespaces,
            )
            result = "ok"
            return outcome
        except (KubeConflict, InvalidSpec, KubeUnavailable, KubeRejected) as exc:
            result = next(name for kind, name in _OUTCOMES if isinstance(exc, kind))
            raise
        finally:
            self._metrics.reconciles.labels(result).inc()
            self._metrics.reconcile_seconds.observe(time.perf_counter() - started)

    def owner_changed(self, namespace: str, owner: str | None, logger: Logger) -> None:
        """A child of ``owner`` changed: reconcile the owner (failures are logged, not raised)."""
        if not owner:
            return
        try:
            cr = self._kube.get(names.API_VERSION, names.KIND, namespace, owner)
            if cr is not None:
                self.run(cr, logger)
        except (KubeUnavailable, KubeConflict, KubeRejected) as exc:
            logger.warning(
                "reconcile of %s/%s after a child changed failed: %s", namespace, owner, exc
            )

    def resync_once(self, logger: Logger) -> None:
        """Reconcile every GptOssDeployment in scope once; a failing one does not stop the rest."""
        scopes: tuple[str | None, ...] = self._namespaces or (None,)
        checked = 0
        for scope in scopes:
            for cr in self._kube.list(names.API_VERSION, names.KIND, scope):
                checked += 1
                try:
                    self.run(cr, logger)
                except (KubeUnavailable, KubeConflict, KubeRejected, InvalidSpec) as exc:
                    logger.warning(
                        "resync of %s/%s failed: %s",
                        cr["metadata"]["namespace"],
                        cr["metadata"]["name"],
                        exc,
                    )
        logger.info("resync: %d GptOssDeployments checked", checked)

    async def resync_forever(self, logger: Logger) -> None:
        """``resync_once`` every ``resync_seconds``, off the event loop."""
        while True:
            await asyncio.sleep(self._settings.resync_seconds)
            try:
                await asyncio.to_thread(self.resync_once, logger)
            except (KubeUnavailable, KubeConflict, KubeRejected) as exc:
                logger.warning("resync could not list GptOssDeployments: %s", exc)


_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (KubeConflict, "stale"),
    (InvalidSpec, "invalid"),
    (KubeUnavailable, "unavailable"),
    (KubeRejected, "rejected"),
)


def _summary(status: dict[str, Any]) -> str:
    parts = [f"{c['type']}={c['status']}({c['reason']})" for c in status.get("conditions", [])]
    return f"{status.get('readyReplicas', 0)}/{status.get('replicas', 0)} ready, " + " ".join(parts)
