"""Probes that cannot kill a replica while it loads weights (pure).

Peers' users report this first: liveness probes with a fixed ``initialDelaySeconds`` kill large
models mid-load (kserve #5062, aibrix #772, aws-do-eks #40; docs/sources.md, Probes). The fix
they converged on, used here: a startup probe on ``/health`` with a budget as long
as a cold start may take, and liveness/readiness without initial delays, which Kubernetes only
starts once the startup probe has succeeded.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["liveness_probe", "readiness_probe", "startup_probe"]

STARTUP_PERIOD_SECONDS = 10


def _http(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def startup_probe(startup_timeout_seconds: int) -> dict[str, Any]:
    """Succeeds once vLLM answers ``/health``; gives up after ``startup_timeout_seconds``."""
    failures = math.ceil(startup_timeout_seconds / STARTUP_PERIOD_SECONDS)
    return _http("/health", STARTUP_PERIOD_SECONDS, 5, failures)


def readiness_probe() -> dict[str, Any]:
    """Out of the Service within ~15 s of the engine failing, back as soon as it answers."""
    return {**_http("/health", 5, 3, 3), "successThreshold": 1}


def liveness_probe() -> dict[str, Any]:
    """Restart after a minute of failed health checks (a wedged engine, vllm #39863)."""
    return _http("/health", 15, 10, 4)
