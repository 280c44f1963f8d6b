"""What the autoscaler says about a GptOssDeployment besides scaling it (the write seam of its
words): the Cost policy's reason in ``status.autoscaling`` whenever it changes (``NoGPUPrice``,
with a Warning Event, when it has no GPU price to apply), and the ``MetricsAvailable``
condition with an Event whenever what the autoscaler cannot read changes; an Event when a move
down waits for a replica still loading, and a Warning Event when a GptOssDeployment may go to
zero replicas with no router read to bring it back (``blindness``). It remembers what it last
said, per CR uid, so an unchanged tick writes nothing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from gptoss_operator import names
from gptoss_operator.autoscaling.blindness import (
    NO_ROUTER_METRICS,
    REPLICA_LOADING,
    loading_message,
    metrics_verdict,
    no_router_message,
    notice_for,
    with_condition,
)
from gptoss_operator.autoscaling.decide import Loading
from gptoss_operator.autoscaling.governor import CostDecision
from gptoss_operator.autoscaling.prices import NO_GPU_PRICE
from gptoss_operator.autoscaling.writes import stamp, write_cost_reason
from gptoss_operator.errors import KubeConflict, KubeError
from gptoss_operator.kube.client import Kube

__all__ = ["Telling"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


@dataclass
class Telling:
    kube: Kube
    _unread: dict[str, tuple[str, ...]] = field(default_factory=dict)  # what was missing
    _reasons: dict[str, str] = field(default_factory=dict)  # the cost reason status last said
    _loading: dict[str, str] = field(default_factory=dict)  # the loading pod a wait was said of
    _unrouted: set[str] = field(default_factory=set)  # told: no router read to leave zero

    def forget_all_but(self, uids: set[str]) -> None:
        """Drop what was said of CRs that are gone."""
        for said in (self._unread, self._reasons, self._loading):
            for uid in [u for u in said if u not in uids]:
                del said[uid]
        self._unrouted &= uids

    def scaled(self, uid: str) -> None:
        """A scale wrote its reason with its Event; the next ticks say "Cheapest" once the
        move is done."""
        self._reasons[uid] = "Cheapest"

    async def cost_reason(
        self, cr: dict[str, Any], wish: CostDecision, economics: dict[str, float]
    ) -> None:
        """Keep ``status.autoscaling`` saying why the replicas stay as they are, in plain words
        (``explain``), whenever that reason changes; a scale writes it with its Event."""
        uid = cr["metadata"]["uid"]
        if self._reasons.get(uid) == wish.reason:
            return
        self._reasons[uid] = wish.reason
        try:
            await asyncio.to_thread(write_cost_reason, self.kube, cr, wish, economics)
        except KubeError:
            del self._reasons[uid]  # said next tick

    async def no_gpu_price(self, cr: dict[str, Any], message: str) -> None:
        """Say in ``status.autoscaling`` (reason ``NoGPUPrice``) and in a Warning Event that the
        Cost policy has no GPU price (``prices.missing_gpu_price``), once until it has one."""
        meta = cr["metadata"]
        if self._reasons.get(meta["uid"]) == NO_GPU_PRICE:
            return
        self._reasons[meta["uid"]] = NO_GPU_PRICE
        patch = {"autoscaling": {"reason": NO_GPU_PRICE, "message": message}}
        try:
            await asyncio.to_thread(
                self.kube.patch_status,
                names.API_VERSION,
                names.KIND,
                meta["namespace"],
                meta["name"],
                patch,
            )
        except KubeError:
            del self._reasons[meta["uid"]]  # said next tick
            return
        await self._event(cr, "Warning", NO_GPU_PRICE, message)

    async def blindness(
        self, cr: dict[str, Any], unread: tuple[str, ...], replicas: int, logger: Logger
    ) -> None:
        """The ``MetricsAvailable`` condition and, when what is missing changed, an Event."""
        meta = cr["metadata"]
        verdict = metrics_verdict(unread, replicas)
        before = self._unread.get(meta["uid"], ())
        self._unread[meta["uid"]] = unread
        notice = notice_for(before, unread, verdict)
        if notice is not None:
            level = logging.WARNING if unread else logging.INFO
            await self._event(cr, notice.event_type, notice.reason, notice.message, logger, level)
        conditions = with_condition(
            list((cr.get("status") or {}).get("conditions") or []),
            verdict,
            generation=int(meta.get("generation", 0)),
            now=stamp(),
        )
        if conditions is None:
            return
        try:  # only onto the CR as read: a newer one is answered next tick
            await asyncio.to_thread(
                self.kube.patch_status,
                names.API_VERSION,
                names.KIND,
                meta["namespace"],
                meta["name"],
                {"conditions": conditions},
                resource_version=meta.get("resourceVersion"),
            )
        except KubeConflict:
            return

    async def loading(
        self,
        cr: dict[str, Any],
        loading: Loading | None,
        *,
        waits: bool,
        replicas: int,
        startup_timeout_s: float,
        logger: Logger,
    ) -> None:
        """A Normal ``ReplicaLoading`` Event, once per loading replica, when a move down
        ``waits`` for it (``loading``: the replica the replicas are held for, if any)."""
        meta = cr["metadata"]
        if loading is None:
            self._loading.pop(meta["uid"], None)
            return
        if not waits or self._loading.get(meta["uid"]) == loading.pod:
            return
        self._loading[meta["uid"]] = loading.pod
        message = loading_message(loading, replicas=replicas, startup_timeout_s=startup_timeout_s)
        await self._event(cr, "Normal", REPLICA_LOADING, message, logger, logging.INFO)

    async def router_source(self, cr: dict[str, Any], *, unrouted: bool, logger: Logger) -> None:
        """A Warning ``NoRouterMetrics`` Event and log line, once per GptOssDeployment, while
        it is ``unrouted``: it may go to zero replicas and no router is read to see demand."""
        meta = cr["metadata"]
        if not unrouted:
            self._unrouted.discard(meta["uid"])
            return
        if meta["uid"] in self._unrouted:
            return
        self._unrouted.add(meta["uid"])
        await self._event(
            cr, "Warning", NO_ROUTER_METRICS, no_router_message(), logger, logging.WARNING
        )

    async def _event(
        self,
        cr: dict[str, Any],
        kind: str,
        reason: str,
        message: str,
        logger: Logger | None = None,
        level: int = logging.INFO,
    ) -> None:
        """Post an Event on ``cr`` (and say it in ``logger``'s log at ``level``, if given)."""
        meta = cr["metadata"]
        if logger is not None:
            logger.log(level, "%s/%s: %s", meta["namespace"], meta["name"], message)
        await asyncio.to_thread(
            self.kube.post_event, cr, type=kind, reason=reason, message=message, now=stamp()
        )
