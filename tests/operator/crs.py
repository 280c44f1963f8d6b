"""Reading GptOssDeployments and their pods in cluster tests, and the specs those tests run:
gpt-oss-20b on one H100 with the vLLM simulator as the pods' process (tests only)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION


def get_cr(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return body


def condition(cr: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for found in cr.get("status", {}).get("conditions", []) or []:
        if found["type"] == kind:
            return dict(found)
    return None


def ready_reason(cr: dict[str, Any]) -> str | None:
    ready = condition(cr, "Ready")
    return None if ready is None else str(ready["reason"])


def simulated(autoscaling: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A spec whose pods run the vLLM simulator, ready a second after they start."""
    spec: dict[str, Any] = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB", "count": 1},
        "serving": {"maxNumSeqs": 2, "maxModelLen": 32768},
        "pod": {"annotations": {RUNTIME_ANNOTATION: "vllm-sim", STARTUP_ANNOTATION: "1"}},
        **extra,
    }
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    return spec


def ready_pod_ips(api_client: client.ApiClient, namespace: str, cr_name: str) -> dict[str, str]:
    """Name -> IP of the CR's pods that are Ready."""
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=f"gptoss.dev/deployment={cr_name}"
    )
    return {
        p.metadata.name: p.status.pod_ip
        for p in pods.items
        if p.status.pod_ip
        and not p.metadata.deletion_timestamp
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    }


def events(api_client: client.ApiClient, namespace: str, name: str) -> list[client.CoreV1Event]:
    found = client.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return list(found.items)
