"""The benchmark's GptOssDeployments and when one counts as settled or converged."""

from __future__ import annotations

from typing import Any

__all__ = ["NAMESPACE", "PLURAL", "converged", "cr", "settled"]

NAMESPACE = "scale"
PLURAL = "/apis/gptoss.dev/v1alpha1/namespaces/scale/gptossdeployments"


def cr(index: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": f"scale-{index:03d}", "namespace": NAMESPACE},
        "spec": {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB", "count": 1},
            "replicas": replicas,
        },
    }


def _conditions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return {}
    return {c.get("type", ""): c for c in status.get("conditions", [])}


def settled(body: dict[str, Any]) -> bool:
    """Ready says what the spec asks: True with replicas 1, reason ScaledToZero with 0."""
    ready = _conditions(body).get("Ready")
    if ready is None:
        return False
    if int(body["spec"].get("replicas", 1)) == 0:
        return bool(ready.get("reason") == "ScaledToZero")
    return bool(ready.get("status") == "True")


def converged(body: dict[str, Any]) -> bool:
    """Settled, and the rollout is over too: Progressing and Degraded both False."""
    conditions = _conditions(body)
    return settled(body) and all(
        conditions.get(kind, {}).get("status") == "False" for kind in ("Progressing", "Degraded")
    )
