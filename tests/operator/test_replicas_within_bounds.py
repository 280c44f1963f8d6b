"""With ``spec.autoscaling`` set, the operator runs ``spec.replicas`` within its minReplicas and
maxReplicas: a ``kubectl scale`` past them does not start GPU pods that the autoscaler's next
tick would take away (reconcile against an in-memory API)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.memory_api import MemoryApi, cr, reconciled


def _cr(replicas: int, autoscaling: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "replicas": replicas,
    }
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    return cr(spec)


@pytest.mark.parametrize(
    ("replicas", "autoscaling", "run"),
    [
        (20, {"minReplicas": 1, "maxReplicas": 4}, 4),
        (0, {"minReplicas": 2, "maxReplicas": 4}, 2),
        (3, {"minReplicas": 1, "maxReplicas": 4}, 3),
        (0, {"minReplicas": 0, "maxReplicas": 4}, 0),
        (20, None, 20),  # no autoscaler: what the CR asks for (an HPA or KEDA bounds it)
    ],
)
def test_the_deployment_runs_the_replicas_asked_within_the_autoscalers_bounds(
    replicas: int, autoscaling: dict[str, Any] | None, run: int
) -> None:
    api = MemoryApi()
    reconciled(api, _cr(replicas, autoscaling))
    assert api.one("Deployment")["spec"]["replicas"] == run
