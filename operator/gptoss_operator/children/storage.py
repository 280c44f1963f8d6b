"""The weights claim and the Job that fills it (pure).

The claim is owned by the CR only when the operator created it (``cache.pvc.create``); a
claim named by the user is never owned, so deleting the CR never deletes someone's data.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator import names
from gptoss_operator.api.spec import VolumeClaim
from gptoss_operator.children.deployment import Owner, owner_reference
from gptoss_operator.placement.weights import Download, download_container

__all__ = ["build_download_job", "build_weights_claim"]


def build_weights_claim(owner: Owner, model: str, claim: VolumeClaim) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [claim.access_mode],
        "resources": {"requests": {"storage": claim.size}},
    }
    if claim.storage_class_name:
        spec["storageClassName"] = claim.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim.name or names.weights_claim_name(owner.name),
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "weights"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": spec,
    }


def build_download_job(
    owner: Owner,
    model: str,
    download: Download,
    claim_name: str,
    *,
    service_account_name: str | None = None,
) -> dict[str, Any]:
    """Copy the checkpoint into the claim once per source (the Job is named by the download's
    digest); retried a few times, then reported failed. It runs as the pods'
    ``service_account_name``, so a workload identity (IRSA, GKE Workload Identity) bound to it
    reads the bucket without a Secret."""
    container = {
        **download_container(download, mount="weights"),
        "env": [{"name": "HF_HUB_ENABLE_HF_TRANSFER", "value": "1"}],
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.download_job_name(owner.name, download.digest(claim_name)),
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "download"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "backoffLimit": 4,
            "template": {
                "metadata": {"labels": {names.COMPONENT_LABEL: "download"}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [container],
                    "volumes": [
                        {"name": "weights", "persistentVolumeClaim": {"claimName": claim_name}}
                    ],
                    **(
                        {"serviceAccountName": service_account_name} if service_account_name else {}
                    ),
                },
            },
        },
    }
