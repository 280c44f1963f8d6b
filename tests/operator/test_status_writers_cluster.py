"""Two writers of a GptOssDeployment's conditions on the real API server: the reconciler
(``Ready``, ``Progressing``, ``Degraded`` and the rest) and the autoscaler
(``MetricsAvailable``). Conditions are a list, and a merge patch replaces a list whole, so a
reconcile that read the CR before the autoscaler wrote must not put its older list back."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from gptoss_operator import names
from gptoss_operator.kube.client import connect
from gptoss_operator.reconciling.runner import Runner
from gptoss_operator.settings import OperatorSettings
from tests.operator.conftest import Kubectl
from tests.operator.crs import condition, get_cr, simulated
from tests.operator.gptoss_crd import manifest

METRICS_AVAILABLE = {
    "type": "MetricsAvailable",
    "status": "False",
    "reason": "MetricsUnavailable",
    "message": "no answer from the metrics of pod writers-vllm-0",
    "lastTransitionTime": "2026-11-30T12:00:00Z",
    "observedGeneration": 1,
}


def test_a_reconcile_from_a_stale_read_keeps_the_condition_the_autoscaler_wrote_since(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
) -> None:
    autoscaled = simulated({"policy": "Queue", "minReplicas": 1, "maxReplicas": 2})
    assert kubectl.apply(namespace, manifest("writers", autoscaled)).returncode == 0
    kube = connect(str(cluster.kubeconfig))
    runner = Runner(kube, OperatorSettings())
    log = logging.getLogger("test")
    runner.run(get_cr(api_client, namespace, "writers"), log)  # the reconciler's own conditions
    stale = get_cr(api_client, namespace, "writers")
    assert condition(stale, "Ready") is not None
    # the autoscaler writes its condition onto the CR as it read it
    conditions = [*stale["status"]["conditions"], METRICS_AVAILABLE]
    kube.patch_status(
        names.API_VERSION,
        names.KIND,
        namespace,
        "writers",
        {"conditions": conditions},
        resource_version=stale["metadata"]["resourceVersion"],
    )
    # a reconcile that read the CR before that write, and has something to change
    stale["status"]["conditions"] = [
        c for c in stale["status"]["conditions"] if c["type"] != "Progressing"
    ]
    runner.run(stale, log)
    now = get_cr(api_client, namespace, "writers")
    kept = condition(now, "MetricsAvailable")
    assert kept is not None and kept["reason"] == "MetricsUnavailable"
    assert condition(now, "Ready") is not None
    assert condition(now, "Progressing") is not None
