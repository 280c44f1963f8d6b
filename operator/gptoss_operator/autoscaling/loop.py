"""The autoscaler: every ``autoscale_interval_seconds``, for each GptOssDeployment with
``spec.autoscaling``, read the queues (``readings``), decide (``decide``), and write replicas
through the CR's ``/scale`` subresource, the one writer of replicas; the operator's reconcile
carries the new count to the Deployment. Each change is an Event and is kept in
``status.autoscaling``.

With ``spec.autoscaling.policy: Cost`` the count comes from ``economics`` instead: the model's
demand in tokens/s (``DemandMeter``), each replica's measured capacity, and the GPU and provider
prices; its cold-start hysteresis replaces the stabilization window, and the dollars per hour it
compared go to ``status.autoscaling`` with the change.

Either way, a tick in which a ready replica's or a router's metrics are missing never lowers the
replicas, and the ``MetricsAvailable`` condition and an Event say so (``blindness``).

A CR without ``spec.autoscaling`` is never scaled here, so HPA or KEDA can own its ``/scale``.
State (the stabilization windows, router totals, demand meters, cost governors) lives in memory;
after a restart each starts from the current replicas, so a restart never scales anything down
at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from gptoss_operator import names
from gptoss_operator.api import GptOssDeploymentSpec
from gptoss_operator.autoscaling.blindness import metrics_verdict, notice_for, with_condition
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.decide import Signals, Stabilizer, never_down_blind, recommend
from gptoss_operator.autoscaling.economics import CostPolicy
from gptoss_operator.autoscaling.governor import CostDecision
from gptoss_operator.autoscaling.policies import cost_policy, queue_policy
from gptoss_operator.autoscaling.readings import RouterReader, RouterReadings, read_replicas
from gptoss_operator.autoscaling.signals import DemandMeter
from gptoss_operator.autoscaling.spill import RouterTotals, spill_for
from gptoss_operator.autoscaling.writes import (
    Decision,
    economics_status,
    stamp,
    write_cost_reason,
    write_decision,
)
from gptoss_operator.errors import KubeConflict, KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.placement.adapters import served_names
from gptoss_operator.settings import OperatorSettings

__all__ = ["Autoscaler", "Decision"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


@dataclass
class Autoscaler:
    kube: Kube
    settings: OperatorSettings
    http: httpx.AsyncClient
    namespaces: tuple[str, ...] = ()
    clock: Callable[[], float] = time.monotonic
    _routers: RouterReader = field(init=False)
    _windows: dict[str, Stabilizer] = field(default_factory=dict)
    _totals: dict[str, RouterTotals] = field(default_factory=dict)
    _spilled_totals: dict[str, int] = field(default_factory=dict)
    _meters: dict[str, DemandMeter] = field(default_factory=dict)
    _costs: dict[str, CostState] = field(default_factory=dict)  # the cost policy's, by uid
    _unread: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _reasons: dict[str, str] = field(default_factory=dict)  # the cost reason status last said
    _newest_age: dict[str, float | None] = field(default_factory=dict)  # of each CR's newest pod

    def __post_init__(self) -> None:
        self._routers = RouterReader(self.kube, self.settings, self.http)

    async def forever(self, logger: Logger) -> None:
        while True:
            started = self.clock()
            try:
                await self.tick(logger)
            except KubeError as exc:
                logger.warning("autoscaler could not read or scale: %s", exc)
            elapsed = self.clock() - started
            await asyncio.sleep(max(0.0, self.settings.autoscale_interval_seconds - elapsed))

    async def tick(self, logger: Logger) -> list[Decision]:
        scopes: tuple[str | None, ...] = self.namespaces or (None,)
        crs: list[dict[str, Any]] = []
        for scope in scopes:
            crs += await asyncio.to_thread(self.kube.list, names.API_VERSION, names.KIND, scope)
        crs = [cr for cr in crs if (cr.get("spec") or {}).get("autoscaling")]
        self._forget_all_but(crs)
        if not crs:
            return []
        routers = await self._routers.read()
        decisions = await asyncio.gather(*(self._one(cr, routers, logger) for cr in crs))
        done = [d for d in decisions if d is not None]
        for decision in done:
            logger.info(
                "scaled %s/%s from %d to %d: %s",
                decision.namespace,
                decision.name,
                decision.current,
                decision.replicas,
                decision.message,
            )
        return done

    def _forget_all_but(self, crs: list[dict[str, Any]]) -> None:
        """Drop the state of GptOssDeployments that are gone (or no longer autoscaled)."""
        keys = {f"{cr['metadata']['namespace']}/{cr['metadata']['name']}" for cr in crs}
        keys |= {cr["metadata"]["uid"] for cr in crs}
        for state in (
            self._windows,
            self._totals,
            self._spilled_totals,
            self._meters,
            self._costs,
            self._unread,
            self._reasons,
            self._newest_age,
        ):
            for key in [k for k in state if k not in keys]:
                del state[key]

    async def _signals(
        self, cr: dict[str, Any], model: str | frozenset[str], routers: RouterReadings
    ) -> Signals:
        meta = cr["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        replicas = await read_replicas(self.kube, self.http, meta["namespace"], meta["name"])
        self._newest_age[key] = replicas.newest_age_s
        totals = self._totals.setdefault(key, RouterTotals())
        spill = totals.observe(
            {
                source: None if samples is None else spill_for(samples, model, key)
                for source, samples in routers.items()
            }
        )
        previous = self._spilled_totals.get(key)
        self._spilled_totals[key] = spill.total
        self._meters.setdefault(key, DemandMeter()).observe(self.clock(), replicas.queues, spill)
        fresh = spill.total - previous if previous is not None else 0
        unread = replicas.unread + tuple(k for k, v in routers.items() if v is None)
        queues = replicas.queues.values()
        return Signals(
            ready=replicas.ready,
            waiting=sum(q.waiting for q in queues),
            running=sum(q.running for q in queues),
            spilled=max(spill.inflight, fresh),
            unread=unread,
        )

    async def _one(
        self, cr: dict[str, Any], routers: RouterReadings, logger: Logger
    ) -> Decision | None:
        meta = cr["metadata"]
        try:
            spec = GptOssDeploymentSpec.model_validate(cr["spec"])
            policy = queue_policy(spec)
        except ValueError:
            return None
        if policy is None:
            return None
        # The names its requests carry: a fine-tune's and its adapters' (placement/adapters.py).
        signals = await self._signals(cr, served_names(meta["name"], spec), routers)
        cost = cost_policy(
            spec,
            gpu_prices=self.settings.gpu_hourly_prices,
            provider_prices=self.settings.hosted_price_table,
            billing_s=self.settings.gpu_billing_seconds,
        )
        if cost is not None:
            decision = await self._one_by_cost(cr, spec.replicas, signals, cost)
        else:
            wish = recommend(signals, policy)
            now = self.clock()
            current = spec.replicas
            window = self._windows.setdefault(meta["uid"], Stabilizer([(now, current)]))
            replicas = window.decide(
                now, wish.replicas, current=current, policy=policy, blind=signals.blind
            )
            decision = None
            if replicas != current:
                decision = Decision(
                    meta["namespace"], meta["name"], current, replicas, wish.reason, wish.message
                )
                await asyncio.to_thread(write_decision, self.kube, cr, decision)
        kept = decision.replicas if decision is not None else spec.replicas
        await self._tell_blindness(cr, signals.unread, kept, logger)
        return decision

    async def _one_by_cost(
        self, cr: dict[str, Any], current: int, signals: Signals, policy: CostPolicy
    ) -> Decision | None:
        meta = cr["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        state = self._costs.setdefault(meta["uid"], CostState())
        tick = state.decide(
            self.clock(),
            self._meters[key],
            policy,
            current=current,
            ready=signals.ready,
            saturated=signals.waiting > 0 or signals.spilled > 0,
            blind=signals.blind,  # a silent replica looks idle, a silent router hosts nothing
            tick_s=self.settings.autoscale_interval_seconds,
            newest_age_s=self._newest_age.get(key),
        )
        wish = tick.decision
        replicas = never_down_blind(
            wish.replicas, current=current, blind=signals.blind, ceiling=policy.max_replicas
        )
        economics = economics_status(wish, tick.demand, tick.capacity)
        if replicas == current:
            await self._tell_cost_reason(cr, wish, economics)
            return None
        self._reasons[meta["uid"]] = "Cheapest"  # what the next ticks say once it is done
        decision = Decision(
            meta["namespace"],
            meta["name"],
            current,
            replicas,
            wish.reason,
            wish.message,
            economics,
        )
        await asyncio.to_thread(write_decision, self.kube, cr, decision)
        return decision

    async def _tell_cost_reason(
        self, cr: dict[str, Any], wish: CostDecision, economics: dict[str, float]
    ) -> None:
        """Keep ``status.autoscaling`` saying why the replicas stay as they are, in plain words
        (``explain``), whenever that reason changes; a scale writes it with its Event."""
        meta = cr["metadata"]
        if self._reasons.get(meta["uid"]) == wish.reason:
            return
        self._reasons[meta["uid"]] = wish.reason
        try:
            await asyncio.to_thread(write_cost_reason, self.kube, cr, wish, economics)
        except KubeError:
            del self._reasons[meta["uid"]]  # said next tick

    async def _tell_blindness(
        self, cr: dict[str, Any], unread: tuple[str, ...], replicas: int, logger: Logger
    ) -> None:
        """The ``MetricsAvailable`` condition and, when what is missing changed, an Event."""
        meta = cr["metadata"]
        verdict = metrics_verdict(unread, replicas)
        before = self._unread.get(meta["uid"], ())
        self._unread[meta["uid"]] = unread
        notice = notice_for(before, unread, verdict)
        if notice is not None:
            logger.log(
                logging.WARNING if unread else logging.INFO,
                "%s/%s: %s",
                meta["namespace"],
                meta["name"],
                notice.message,
            )
            await asyncio.to_thread(
                self.kube.post_event,
                cr,
                type=notice.event_type,
                reason=notice.reason,
                message=notice.message,
                now=stamp(),
            )
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
