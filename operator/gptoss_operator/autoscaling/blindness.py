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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CONDITION",
    "METRICS_READ",
    "METRICS_UNAVAILABLE",
    "Notice",
    "metrics_verdict",
    "notice_for",
    "with_condition",
]

CONDITION = "MetricsAvailable"
METRICS_READ = "MetricsRead"
METRICS_UNAVAILABLE = "MetricsUnavailable"


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
