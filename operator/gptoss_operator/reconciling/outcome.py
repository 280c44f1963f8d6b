"""What a reconcile reports: its outcome, the Events for conditions whose reason changed, and
the status patch to write (nothing when the status is as written already). Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_operator.reconciling.reasons import WARNINGS

__all__ = ["Event", "Outcome", "events", "status_patch"]


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the CR."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    status: dict[str, Any]
    status_written: bool
    events: tuple[Event, ...]


def events(previous: dict[str, Any], status: dict[str, Any]) -> tuple[Event, ...]:
    """An Event for each condition whose reason changed."""
    before = {c["type"]: c.get("reason") for c in previous.get("conditions", []) or []}
    found = []
    for condition in status["conditions"]:
        if (
            condition["type"] == "Progressing"
            or before.get(condition["type"]) == condition["reason"]
        ):
            continue
        if (
            condition["type"] == "Degraded"
            and condition["status"] == "False"
            and (condition["type"] not in before)
        ):
            continue
        kind = "Warning" if condition["reason"] in WARNINGS else "Normal"
        found.append(Event(kind, condition["reason"], condition["message"]))
    return tuple(found)


_CLEARED = (
    "image",
    "availableImage",
    "sizing",
    "inferencePool",
    "adapters",
)  # status keys that go when they no longer apply


def status_patch(
    previous: dict[str, Any], status: dict[str, Any], *, autoscaled: bool = True
) -> dict[str, Any] | None:
    """The merge patch from the CR's ``previous`` status to ``status`` (``None`` deletes a key
    that no longer applies), or None when there is nothing to write. ``status.autoscaling`` is
    the autoscaler's to write; it goes here once the spec has no ``autoscaling`` (``autoscaled``
    false), as the autoscaler no longer looks at the CR."""
    cleared = _CLEARED if autoscaled else (*_CLEARED, "autoscaling")
    gone = {key: None for key in cleared if key in previous and key not in status}
    if not (_status_differs(previous, status) or gone):
        return None
    return {**status, **gone}


def _status_differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    return any(current.get(key) != value for key, value in desired.items())
