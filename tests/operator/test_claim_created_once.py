"""The weights claim is created once and never applied again: Kubernetes fixes a claim's spec
once it exists (but for growing it), and a refused claim would stop the Deployment and every
child after it from following the spec (reconcile against an in-memory API)."""

from __future__ import annotations

from typing import Any

from gptoss_operator.errors import KubeRejected
from tests.operator.memory_api import MemoryApi, cr, reconciled


class ClaimFixingApi(MemoryApi):
    """Refuses a change to a claim's spec, as the API server does
    (``ValidatePersistentVolumeClaimUpdate``)."""

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] == "PersistentVolumeClaim":
            meta = obj["metadata"]
            live = self.get("v1", "PersistentVolumeClaim", meta["namespace"], meta["name"])
            if live is not None and live["spec"] != obj["spec"]:
                raise KubeRejected(
                    f"PATCH persistentvolumeclaims/{meta['name']}: 422 Unprocessable Entity: "
                    "spec: Forbidden: spec is immutable after creation except "
                    "resources.requests and volumeAttributesClassName for bound claims",
                    status=422,
                )
        return super().apply(obj)


def _spec(replicas: int, access: str, size: str = "150Gi") -> dict[str, Any]:
    return {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "replicas": replicas,
        "cache": {"pvc": {"accessMode": access, "size": size}},
    }


def test_a_changed_claim_spec_leaves_the_claim_alone_and_the_deployment_follows_the_spec() -> None:
    api = ClaimFixingApi()
    reconciled(api, cr(_spec(1, "ReadWriteOnce")))
    job = api.one("Job")
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    reconciled(api, cr(_spec(1, "ReadWriteOnce")))
    assert api.one("Deployment")["spec"]["replicas"] == 1
    status = reconciled(api, cr(_spec(2, "ReadWriteMany", "300Gi"), generation=2))
    assert api.one("Deployment")["spec"]["replicas"] == 2
    claim = api.one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "150Gi"
    assert not [c for c in status["conditions"] if c["reason"] == "ChildRejected"]
