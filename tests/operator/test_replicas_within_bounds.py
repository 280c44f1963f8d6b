"""With ``spec.autoscaling`` set, the operator runs ``spec.replicas`` within its minReplicas and
maxReplicas: a ``kubectl scale`` past them does not start GPU pods that the autoscaler's next
tick would take away (reconcile against an in-memory API)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from gptoss_operator.kube.client import Kube
from gptoss_operator.reconciling.reconcile import reconcile
from gptoss_operator.settings import OperatorSettings
from tests.operator.memory_api import MemoryApi

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _cr(replicas: int, autoscaling: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "replicas": replicas,
    }
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": spec,
    }


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
    reconcile(_cr(replicas, autoscaling), cast(Kube, api), OperatorSettings(), now=NOW)
    assert api.one("Deployment")["spec"]["replicas"] == run
