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
replicas, and the ``MetricsAvailable`` condition and an Event say so (``blindness``). With the
Queue policy, neither does a tick in which a replica asked for is still loading, up to the
operator's startup timeout (``decide.still_loading``); an Event says which one a move down
waits for. A GptOssDeployment that may go to zero replicas while no router is read (nothing
would see demand to bring it back) gets a Warning Event once.

A CR without ``spec.autoscaling`` is never scaled here, so HPA or KEDA can own its ``/scale``;
the reconcile clears the ``status.autoscaling`` and ``MetricsAvailable`` it had before.
State (the stabilization windows, router totals, demand meters; the cost policy's in
``by_cost``) lives in memory; after a restart each starts from the current replicas, so a
restart never scales anything down at once: a new demand meter reads the demand as it is from
its first tick, and the cost policy gives nothing back before it has measured a minute. What
the cost policy has learned (a replica's measured capacity, the providers' limit and the bursts
past it, how soon demand came back) is kept in ``status.autoscaling.learned`` too
(``remembering``), so a new process or a new leader starts from it, not from the priors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from gptoss_operator import names
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.by_cost import CostScaling, unpriced_reason
from gptoss_operator.autoscaling.decide import (
    Loading,
    Policy,
    Signals,
    Stabilizer,
    recommend,
    still_loading,
)
from gptoss_operator.autoscaling.policies import cost_policy, queue_policy
from gptoss_operator.autoscaling.readings import RouterReader, RouterReadings, read_replicas
from gptoss_operator.autoscaling.remembering import Remembering
from gptoss_operator.autoscaling.signals import DemandMeter
from gptoss_operator.autoscaling.spill import RouterTotals, spill_for
from gptoss_operator.autoscaling.telling import Telling
from gptoss_operator.autoscaling.writes import Decision, write_decision
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.metrics import OperatorMetrics
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
    wall: Callable[[], float] = time.time  # for the times kept in status
    metrics: OperatorMetrics = field(default_factory=lambda: OperatorMetrics(CollectorRegistry()))
    _routers: RouterReader = field(init=False)
    _telling: Telling = field(init=False)
    _windows: dict[str, Stabilizer] = field(default_factory=dict)
    _totals: dict[str, RouterTotals] = field(default_factory=dict)
    _spilled_totals: dict[str, int] = field(default_factory=dict)
    _meters: dict[str, DemandMeter] = field(default_factory=dict)
    _by_cost: CostScaling = field(init=False)
    _newest_age: dict[str, float | None] = field(default_factory=dict)  # of each CR's newest pod
    _loading: dict[str, Loading | None] = field(default_factory=dict)  # its youngest not Ready

    def __post_init__(self) -> None:
        self._routers = RouterReader(self.kube, self.settings, self.http)
        self._telling = Telling(self.kube)
        self._by_cost = CostScaling(
            self.kube, self.settings, self._telling, Remembering(self.kube), self.metrics
        )

    async def forever(self, logger: Logger) -> None:
        while True:
            started = self.clock()
            try:
                await self.tick(logger)
            except KubeError as exc:
                logger.warning("autoscaler could not read or scale: %s", exc)
            except Exception:  # a bug must not stop every deployment's scaling for good
                logger.exception("autoscaler tick failed; the next one runs as planned")
            elapsed = self.clock() - started
            self.metrics.autoscale_seconds.observe(elapsed)
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
        # Each deployment's reads and writes end within its tick, whatever another's do: one
        # that fails (a pod list refused, a scale the API server did not take) is logged, and
        # does not leave the others' reads running into the next tick.
        outcomes = await asyncio.gather(
            *(self._one(cr, routers, logger) for cr in crs), return_exceptions=True
        )
        done = [d for d in outcomes if isinstance(d, Decision)]
        for cr, outcome in zip(crs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _failed(cr, outcome, logger)
        for decision in done:
            self.metrics.scaled(
                decision.namespace,
                decision.name,
                decision.current,
                decision.replicas,
                decision.reason,
            )
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
        for gone in [k for k in self._meters if k not in keys]:
            self.metrics.forget(*gone.split("/", 1))
        keys |= {cr["metadata"]["uid"] for cr in crs}
        self._telling.forget_all_but(keys)
        self._by_cost.forget_all_but(keys)
        for state in (
            self._windows,
            self._totals,
            self._spilled_totals,
            self._meters,
            self._newest_age,
            self._loading,
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
        self._loading[key] = replicas.loading
        totals = self._totals.setdefault(key, RouterTotals())
        spill = totals.observe(
            {
                source: None if samples is None else spill_for(samples, model, key)
                for source, samples in routers.items()
            }
        )
        previous = self._spilled_totals.get(key)
        self._spilled_totals[key] = spill.total
        unread = replicas.unread + tuple(k for k, v in routers.items() if v is None)
        self._meters.setdefault(key, DemandMeter()).observe(
            self.clock(), replicas.queues, spill, complete=not unread
        )
        fresh = spill.total - previous if previous is not None else 0
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
        await self._telling.router_source(
            cr, unrouted=policy.min_replicas == 0 and not self._routers.enabled, logger=logger
        )
        # The names its requests carry: a fine-tune's and its adapters' (placement/adapters.py).
        signals = await self._signals(cr, served_names(meta["name"], spec), routers)
        cost = cost_policy(
            spec,
            gpu_prices=self.settings.gpu_hourly_prices,
            provider_prices=self.settings.hosted_price_table,
            billing_s=self.settings.gpu_billing_seconds,
        )
        unpriced = unpriced_reason(spec, self.settings) if cost is None else None
        if cost is not None:
            key = f"{meta['namespace']}/{meta['name']}"
            meter, newest_age_s = self._meters[key], self._newest_age.get(key)
            now, wall = self.clock(), self.wall()
            decision = await self._by_cost.decide(
                cr, spec, signals, cost, meter, newest_age_s, now=now, wall=wall, logger=logger
            )
        elif unpriced is not None:  # the Cost policy at no known GPU price: nothing moves
            self.metrics.forget_cost(meta["namespace"], meta["name"])
            await self._telling.no_gpu_price(cr, unpriced)
            decision = None
        else:
            self.metrics.forget_cost(meta["namespace"], meta["name"])
            decision = await self._by_queue(cr, spec.replicas, policy, signals, logger)
        kept = decision.replicas if decision is not None else spec.replicas
        self.metrics.desired.labels(meta["namespace"], meta["name"]).set(kept)
        self.metrics.missing.labels(meta["namespace"], meta["name"]).set(len(signals.unread))
        await self._telling.blindness(cr, signals.unread, kept, logger)
        return decision

    async def _by_queue(
        self,
        cr: dict[str, Any],
        current: int,
        policy: Policy,
        signals: Signals,
        logger: Logger,
    ) -> Decision | None:
        """The Queue policy's tick: the recommendation, stabilized, written if it moves."""
        meta = cr["metadata"]
        wish = recommend(signals, policy)
        now = self.clock()
        startup_timeout_s = float(self.settings.startup_timeout_seconds)
        loading = still_loading(
            self._loading.get(f"{meta['namespace']}/{meta['name']}"),
            ready=signals.ready,
            current=current,
            startup_timeout_s=startup_timeout_s,
        )
        window = self._windows.setdefault(meta["uid"], Stabilizer([(now, current)]))
        replicas = window.decide(
            now,
            wish.replicas,
            current=current,
            policy=policy,
            blind=signals.blind or loading is not None,  # the loading replica's demand is unseen
        )
        await self._telling.loading(
            cr,
            loading,
            waits=replicas >= current > max(wish.replicas, policy.min_replicas),
            replicas=current,
            startup_timeout_s=startup_timeout_s,
            logger=logger,
        )
        if replicas == current:
            return None
        decision = Decision(
            meta["namespace"], meta["name"], current, replicas, wish.reason, wish.message
        )
        await asyncio.to_thread(write_decision, self.kube, cr, decision)
        return decision


def _failed(cr: dict[str, Any], error: BaseException, logger: Logger) -> None:
    """Log why one deployment's tick failed; a cancellation or an exit goes on."""
    if not isinstance(error, Exception):
        raise error
    where = f"{cr['metadata']['namespace']}/{cr['metadata']['name']}"
    if isinstance(error, KubeError):
        logger.warning("autoscaler could not read or scale %s: %s", where, error)
    else:  # a bug must not stop the other deployments' scaling
        logger.error("autoscaler tick of %s failed", where, exc_info=error)
