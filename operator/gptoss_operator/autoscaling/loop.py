"""The autoscaler: every ``autoscale_interval_seconds``, for each GptOssDeployment with
``spec.autoscaling``, read the queues, decide (``autoscale``), and write replicas through the
CR's ``/scale`` subresource, the one writer of replicas; the operator's reconcile carries the
new count to the Deployment. Each change is an Event and is kept in ``status.autoscaling``.

With ``spec.autoscaling.policy: Cost`` the count comes from ``economics`` instead: the model's
demand in tokens/s (``DemandMeter``), each replica's measured capacity, and the GPU and provider
prices; its cold-start hysteresis replaces the stabilization window, and the dollars per hour it
compared go to ``status.autoscaling`` with the change.

A CR without ``spec.autoscaling`` is never scaled here, so HPA or KEDA can own its ``/scale``.
State (the stabilization windows, demand meters, cost governors) lives in memory; after a restart
each starts from the current replicas, so a restart never scales anything down at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from gptoss_operator import names
from gptoss_operator.api import GptOssDeploymentSpec
from gptoss_operator.autoscaling.decide import (
    Policy,
    Signals,
    Stabilizer,
    parse_duration,
    recommend,
)
from gptoss_operator.autoscaling.economics import (
    DEFAULT_GPU_HOURLY_PRICE,
    DEFAULT_HOSTED_PRICE,
    DEFAULT_REPLICA_TOKENS_PER_S,
    CostDecision,
    CostGovernor,
    CostPolicy,
    Demand,
    Prices,
    updated_capacity,
)
from gptoss_operator.autoscaling.signals import DemandMeter, RouterSpill, parse_router, read_pod
from gptoss_operator.errors import KubeError, SizingError
from gptoss_operator.kube import Kube
from gptoss_operator.placement.serving_args import max_num_seqs
from gptoss_operator.placement.sizing import size_spec
from gptoss_operator.settings import OperatorSettings

__all__ = ["Autoscaler", "Decision"]


@dataclass(frozen=True)
class Decision:
    namespace: str
    name: str
    current: int
    replicas: int
    reason: str
    message: str
    economics: dict[str, float] = field(default_factory=dict)  # status fields of policy Cost


def _cost_policy(spec: GptOssDeploymentSpec) -> CostPolicy | None:
    auto = spec.autoscaling
    if auto is None or auto.policy != "Cost":
        return None
    try:
        gpus = size_spec(spec).tensor_parallel_size
    except SizingError:
        gpus = spec.gpu.count or 1
    gpu_price = auto.gpu_hourly_price
    if gpu_price is None:
        gpu_price = DEFAULT_GPU_HOURLY_PRICE[spec.gpu.product]
    hosted_in, hosted_out = DEFAULT_HOSTED_PRICE[spec.model]
    if (given := auto.hosted_price_per_million_tokens) is not None:
        hosted_in = hosted_in if given.input is None else given.input
        hosted_out = hosted_out if given.output is None else given.output
    spill = spec.spillover
    return CostPolicy(
        min_replicas=auto.min_replicas,
        max_replicas=auto.max_replicas,
        cold_start_s=parse_duration(auto.cold_start),
        prices=Prices(gpu_price * gpus, hosted_in, hosted_out),
        may_spill=spill is not None and "Saturated" in spill.when and spill.providers != [],
    )


def _policy(spec: GptOssDeploymentSpec, settings: OperatorSettings) -> Policy | None:
    auto = spec.autoscaling
    if auto is None:
        return None
    return Policy(
        min_replicas=auto.min_replicas,
        max_replicas=auto.max_replicas,
        target_queue_depth=auto.target_queue_depth,
        scale_down_delay_s=parse_duration(auto.scale_down_delay),
        max_num_seqs=max_num_seqs(spec),
    )


def _ready_ips(pods: list[dict[str, Any]]) -> list[str]:
    ips = []
    for pod in pods:
        status = pod.get("status", {})
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions", []) or []
        )
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            ips.append(status["podIP"])
    return ips


@dataclass
class Autoscaler:
    kube: Kube
    settings: OperatorSettings
    http: httpx.AsyncClient
    namespaces: tuple[str, ...] = ()
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, Stabilizer] = field(default_factory=dict)
    _spilled_totals: dict[str, int] = field(default_factory=dict)
    _meters: dict[str, DemandMeter] = field(default_factory=dict)
    _governors: dict[str, CostGovernor] = field(default_factory=dict)
    _capacities: dict[str, float] = field(default_factory=dict)

    async def forever(self, logger: logging.Logger) -> None:
        while True:
            started = self.clock()
            try:
                await self.tick(logger)
            except KubeError as exc:
                logger.warning("autoscaler could not read or scale: %s", exc)
            elapsed = self.clock() - started
            await asyncio.sleep(max(0.0, self.settings.autoscale_interval_seconds - elapsed))

    async def _router_text(self) -> str | None:
        if not self.settings.router_metrics_url:
            return None
        try:
            response = await self.http.get(self.settings.router_metrics_url)
            response.raise_for_status()
        except httpx.HTTPError:
            return None
        return response.text

    async def tick(self, logger: logging.Logger) -> list[Decision]:
        scopes: tuple[str | None, ...] = self.namespaces or (None,)
        crs: list[dict[str, Any]] = []
        for scope in scopes:
            crs += await asyncio.to_thread(self.kube.list, names.API_VERSION, names.KIND, scope)
        crs = [cr for cr in crs if (cr.get("spec") or {}).get("autoscaling")]
        if not crs:
            return []
        router_text = await self._router_text()
        decisions = await asyncio.gather(*(self._one(cr, router_text) for cr in crs))
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

    async def _signals(self, cr: dict[str, Any], model: str, router_text: str | None) -> Signals:
        namespace = cr["metadata"]["namespace"]
        pods = await asyncio.to_thread(
            self.kube.list, "v1", "Pod", namespace, labels=names.selector(cr["metadata"]["name"])
        )
        urls = [f"http://{ip}:{names.VLLM_PORT}/metrics" for ip in _ready_ips(pods)]
        read = await asyncio.gather(*(read_pod(self.http, u) for u in urls))
        by_url = {u: q for u, q in zip(urls, read, strict=True) if q}
        queues = list(by_url.values())
        spill = parse_router(router_text, model) if router_text else RouterSpill(0, 0)
        key = f"{namespace}/{cr['metadata']['name']}"
        previous = self._spilled_totals.get(key)
        self._spilled_totals[key] = spill.total
        self._meters.setdefault(key, DemandMeter()).observe(self.clock(), by_url, spill)
        fresh = spill.total - previous if previous is not None and spill.total >= previous else 0
        return Signals(
            ready=len(queues),
            waiting=sum(q.waiting for q in queues),
            running=sum(q.running for q in queues),
            spilled=max(spill.inflight, fresh),
        )

    async def _one(self, cr: dict[str, Any], router_text: str | None) -> Decision | None:
        meta = cr["metadata"]
        try:
            spec = GptOssDeploymentSpec.model_validate(cr["spec"])
            policy = _policy(spec, self.settings)
        except ValueError:
            return None
        if policy is None:
            return None
        signals = await self._signals(cr, spec.model, router_text)
        cost = _cost_policy(spec)
        if cost is not None:
            return await self._one_by_cost(cr, spec.replicas, signals, cost)
        wish = recommend(signals, policy)
        now = self.clock()
        current = spec.replicas
        window = self._windows.setdefault(meta["uid"], Stabilizer([(now, current)]))
        replicas = window.decide(now, wish.replicas, current=current, policy=policy)
        if replicas == current:
            return None
        decision = Decision(
            meta["namespace"], meta["name"], current, replicas, wish.reason, wish.message
        )
        await asyncio.to_thread(self._write, cr, decision)
        return decision

    async def _one_by_cost(
        self, cr: dict[str, Any], current: int, signals: Signals, policy: CostPolicy
    ) -> Decision | None:
        meta = cr["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        meter = self._meters[key]
        capacity = self._capacities.get(key, DEFAULT_REPLICA_TOKENS_PER_S)
        if signals.ready:
            saturated = signals.waiting > 0 or signals.spilled > 0
            per_replica = meter.local_tokens_per_s / signals.ready
            capacity = updated_capacity(capacity, per_replica, saturated=saturated)
        self._capacities[key] = capacity
        governor = self._governors.setdefault(meta["uid"], CostGovernor())
        demand = Demand(meter.tokens_per_s, meter.input_per_output)
        wish = governor.decide(
            self.clock(), demand, current=current, capacity=capacity, policy=policy
        )
        if wish.replicas == current:
            return None
        decision = Decision(
            meta["namespace"],
            meta["name"],
            current,
            wish.replicas,
            wish.reason,
            wish.message,
            _economics(wish, demand, capacity),
        )
        await asyncio.to_thread(self._write, cr, decision)
        return decision

    def _write(self, cr: dict[str, Any], decision: Decision) -> None:
        ns, name = decision.namespace, decision.name
        self.kube.scale(names.API_VERSION, names.KIND, ns, name, decision.replicas)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        direction = "ScaledUp" if decision.replicas > decision.current else "ScaledDown"
        message = f"{decision.current} -> {decision.replicas} replicas: {decision.message}"
        self.kube.post_event(cr, type="Normal", reason=direction, message=message, now=stamp)
        self.kube.patch_status(
            names.API_VERSION,
            names.KIND,
            ns,
            name,
            {
                "autoscaling": {
                    "desiredReplicas": decision.replicas,
                    "reason": decision.reason,
                    "message": decision.message,
                    "lastScaleTime": stamp,
                    **decision.economics,
                }
            },
        )


def _economics(wish: CostDecision, demand: Demand, capacity: float) -> dict[str, float]:
    return {
        "demandTokensPerSecond": round(demand.tokens_per_s, 1),
        "replicaTokensPerSecond": round(capacity, 1),
        "localDollarsPerHour": round(wish.local_dollars_per_hour, 4),
        "hostedDollarsPerHour": round(wish.hosted_dollars_per_hour, 4),
    }
