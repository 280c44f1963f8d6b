"""What the autoscaler writes to a GptOssDeployment (the write seam of ``autoscaling``): a new
replica count through ``/scale`` with its Event and ``status.autoscaling``, and, for the Cost
policy, the reason it holds whenever that reason changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gptoss_operator import names
from gptoss_operator.autoscaling.economics import Demand
from gptoss_operator.autoscaling.governor import CostDecision
from gptoss_operator.kube.client import Kube

__all__ = ["Decision", "economics_status", "stamp", "write_cost_reason", "write_decision"]


@dataclass(frozen=True)
class Decision:
    namespace: str
    name: str
    current: int
    replicas: int
    reason: str
    message: str
    economics: dict[str, float] = field(default_factory=dict)  # status fields of policy Cost


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def economics_status(wish: CostDecision, demand: Demand, capacity: float) -> dict[str, float]:
    """The figures a Cost decision compared, as ``status.autoscaling`` fields."""
    return {
        "demandTokensPerSecond": round(demand.tokens_per_s, 1),
        "replicaTokensPerSecond": round(capacity, 1),
        "localDollarsPerHour": round(wish.local_dollars_per_hour, 4),
        "hostedDollarsPerHour": round(wish.hosted_dollars_per_hour, 4),
    }


def write_decision(kube: Kube, cr: dict[str, Any], decision: Decision) -> None:
    """Keep the decision in status, scale, and post the ``ScaledUp``/``ScaledDown`` Event. The
    status goes first, so whoever sees the new ``spec.replicas`` also finds why; a scale that
    fails leaves a status the next tick writes again."""
    ns, name = decision.namespace, decision.name
    now = stamp()
    kube.patch_status(
        names.API_VERSION,
        names.KIND,
        ns,
        name,
        {
            "autoscaling": {
                "desiredReplicas": decision.replicas,
                "reason": decision.reason,
                "message": decision.message,
                "lastScaleTime": now,
                **decision.economics,
            }
        },
    )
    kube.scale(names.API_VERSION, names.KIND, ns, name, decision.replicas)
    direction = "ScaledUp" if decision.replicas > decision.current else "ScaledDown"
    message = f"{decision.current} -> {decision.replicas} replicas: {decision.message}"
    kube.post_event(cr, type="Normal", reason=direction, message=message, now=now)


def write_cost_reason(
    kube: Kube, cr: dict[str, Any], wish: CostDecision, economics: dict[str, float]
) -> None:
    """Say in ``status.autoscaling`` why the Cost policy keeps the replicas as they are."""
    meta = cr["metadata"]
    patch = {"autoscaling": {"reason": wish.reason, "message": wish.message, **economics}}
    kube.patch_status(names.API_VERSION, names.KIND, meta["namespace"], meta["name"], patch)
