"""What the autoscaler says while it cannot see all demand (pure: no clock, no I/O).

A ready replica's ``/metrics`` that does not answer in time (a NetworkPolicy, a mesh, an
overloaded pod) or a router's that does not, hides demand; the autoscaler then holds its
replicas (``decide``) and says why in two places:

* the GptOssDeployment's ``MetricsAvailable`` condition: ``False`` with reason
  ``MetricsUnavailable`` and the pods named, back to ``True`` (``MetricsRead``) when they all
  answer again. It is written only once a reading has been missing: a GptOssDeployment whose
  metrics always answered has no such condition;
* an Event when the set of silent pods changes: a Warning ``MetricsUnavailable`` naming them,
  a Normal ``MetricsAvailable`` when they answer again; not one per tick.

The reconciler writes the ``Ready``, ``Progressing`` and ``Degraded`` conditions and keeps the
others as it finds them, so this condition is the autoscaler's alone.

Two more cases hide demand, each said once in an Event (and the operator's log):

* a replica still loading (``decide.still_loading``): the requests held for it time out in
  the router, and the queue reads empty; the replicas are held and a Normal ``ReplicaLoading``
  Event says which replica a move down waits for, and until when;
* no router read at all (neither ``router_selector`` nor ``router_metrics_url`` set) for a
  GptOssDeployment with ``minReplicas: 0``: at zero replicas there is no queue to read, so
  nothing would ever scale it up again; a Warning ``NoRouterMetrics`` Event says what to set.
  The autoscaler does not guess demand it cannot see: it scales nothing up for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gptoss_operator.autoscaling.decide import Loading

__all__ = [
    "CONDITION",
    "METRICS_READ",
    "METRICS_UNAVAILABLE",
    "NO_ROUTER_METRICS",
    "REPLICA_LOADING",
    "Notice",
    "loading_message",
    "metrics_verdict",
    "no_router_message",
    "notice_for",
    "with_condition",
]

CONDITION = "MetricsAvailable"
METRICS_READ = "MetricsRead"
METRICS_UNAVAILABLE = "MetricsUnavailable"
REPLICA_LOADING = "ReplicaLoading"
NO_ROUTER_METRICS = "NoRouterMetrics"


@dataclass(frozen=True)
class Notice:
    """A condition's value, or an Event, without timestamps."""

    status: Literal["True", "False"]
    reason: str
    message: str

    @property
    def event_type(self) -> str:
        return "Normal" if self.status == "True" else "Warning"


def metrics_verdict(unread: tuple[str, ...], replicas: int) -> Notice:
    """The ``MetricsAvailable`` condition for one tick: ``unread`` names what did not answer
    (``pod <name>``, ``router <name>``), ``replicas`` what the autoscaler keeps meanwhile."""
    if not unread:
        return Notice(
            "True", METRICS_READ, "the metrics of every ready replica and router were read"
        )
    return Notice(
        "False",
        METRICS_UNAVAILABLE,
        f"no answer from the metrics of {', '.join(sorted(unread))}; the autoscaler keeps "
        f"{replicas} replicas (it may add replicas, never remove any) until they answer",
    )


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    return f"{seconds:.0f} s" if minutes < 1 else f"{minutes} min"


def loading_message(loading: Loading, *, replicas: int, startup_timeout_s: float) -> str:
    """Why a move down waits for the replica ``loading``."""
    return (
        f"{loading.pod} is still loading (not Ready {_minutes(loading.age_s)} after it was "
        f"created): the autoscaler keeps {replicas} replica{'' if replicas == 1 else 's'}, "
        f"giving none back until it is Ready or the operator's startup timeout of "
        f"{_minutes(startup_timeout_s)} has passed; scaleDownDelay counts from then"
    )


def no_router_message() -> str:
    """Why a GptOssDeployment with ``minReplicas: 0`` cannot scale up from zero."""
    return (
        "minReplicas is 0, but the operator reads no router's metrics (neither "
        "GPTOSS_OPERATOR_ROUTER_SELECTOR nor GPTOSS_OPERATOR_ROUTER_METRICS_URL is set): at 0 "
        "replicas the autoscaler sees no demand, and nothing scales this deployment up again. "
        "Set one of them (the Helm chart sets the selector), or minReplicas to 1 or more"
    )


def notice_for(before: tuple[str, ...], now: tuple[str, ...], verdict: Notice) -> Notice | None:
    """The Event to post when what did not answer changed from ``before`` to ``now``."""
    if sorted(before) == sorted(now):
        return None
    if now:
        return verdict
    return Notice(
        "True",
        "MetricsAvailable",
        "the metrics of every ready replica and router answer again; the autoscaler may scale down",
    )


def with_condition(
    conditions: list[dict[str, Any]], verdict: Notice, *, generation: int, now: str
) -> list[dict[str, Any]] | None:
    """``conditions`` with ``MetricsAvailable`` set to ``verdict`` (in place, or last), or None
    if nothing needs writing: it already says so, or it never existed and all was read."""
    found = next((c for c in conditions if c.get("type") == CONDITION), None)
    if found is None and verdict.status == "True":
        return None
    if found is not None and (
        found.get("status"),
        found.get("reason"),
        found.get("message"),
    ) == (verdict.status, verdict.reason, verdict.message):
        return None
    since = now
    if found is not None and found.get("status") == verdict.status:
        since = str(found.get("lastTransitionTime", now))
    condition = {
        "type": CONDITION,
        "status": verdict.status,
        "observedGeneration": generation,
        "lastTransitionTime": since,
        "reason": verdict.reason,
        "message": verdict.message[:32768],
    }
    if found is None:
        return [*conditions, condition]
    return [condition if c is found else c for c in conditions]
