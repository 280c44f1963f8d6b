"""Kubelet probe semantics, as pure state: when a container counts as started, ready, or must be
restarted, given the results of its startup, readiness and liveness probes.

Follows the Kubernetes documentation ("Configure Liveness, Readiness and Startup Probes"):

* Until the startup probe has succeeded once, the other probes are not run; after
  ``failureThreshold`` consecutive startup failures the container is killed and restarted.
  Without a startup probe the container counts as started at once.
* Readiness turns True after ``successThreshold`` consecutive successes and False after
  ``failureThreshold`` consecutive failures; without a readiness probe a started container is ready.
* ``failureThreshold`` consecutive liveness failures restart the container.
* Defaults: periodSeconds 10, timeoutSeconds 1, successThreshold 1, failureThreshold 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["ContainerHealth", "Kind", "Probe", "Verdict"]


class Kind(Enum):
    STARTUP = "startup"
    READINESS = "readiness"
    LIVENESS = "liveness"


class Verdict(Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # started or ready flipped
    RESTART = "restart"


@dataclass(frozen=True)
class Probe:
    """An HTTP GET probe (the only kind the simulated containers need)."""

    path: str
    port: int
    period: float = 10.0
    timeout: float = 1.0
    initial_delay: float = 0.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_pod(cls, probe: dict[str, Any] | None, *, default_port: int) -> Probe | None:
        """The probe described by a container's ``*Probe`` field (camelCase API dict)."""
        if not probe:
            return None
        http = probe.get("httpGet") or {}
        port = http.get("port", default_port)
        return cls(
            path=str(http.get("path", "/")),
            port=int(port) if isinstance(port, int | str) and str(port).isdigit() else default_port,
            period=float(probe.get("periodSeconds", 10)),
            timeout=float(probe.get("timeoutSeconds", 1)),
            initial_delay=float(probe.get("initialDelaySeconds", 0)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
        )


@dataclass
class ContainerHealth:
    """The probe-driven state of one container since its last (re)start."""

    has_startup_probe: bool
    has_readiness_probe: bool
    started: bool = False
    ready: bool = False
    _successes: dict[Kind, int] = field(default_factory=dict)
    _failures: dict[Kind, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.has_startup_probe:
            self.started = True
            if not self.has_readiness_probe:
                self.ready = True

    def runs(self, kind: Kind) -> bool:
        """Whether a probe of this kind is run in the current state."""
        return (kind is Kind.STARTUP) != self.started

    def record(self, kind: Kind, ok: bool, probe: Probe) -> Verdict:
        """Account one probe result and say what the kubelet does about it."""
        if not self.runs(kind):
            return Verdict.UNCHANGED
        successes = self._successes.get(kind, 0) + 1 if ok else 0
        failures = 0 if ok else self._failures.get(kind, 0) + 1
        self._successes[kind], self._failures[kind] = successes, failures
        before = (self.started, self.ready)
        if kind is Kind.STARTUP:
            if ok:
                self.started = True
                self.ready = not self.has_readiness_probe
            elif failures >= probe.failure_threshold:
                return Verdict.RESTART
        elif kind is Kind.READINESS:
            if successes >= probe.success_threshold:
                self.ready = True
            elif failures >= probe.failure_threshold:
                self.ready = False
        elif failures >= probe.failure_threshold:
            return Verdict.RESTART
        return Verdict.CHANGED if (self.started, self.ready) != before else Verdict.UNCHANGED
