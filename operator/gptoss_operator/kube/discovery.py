"""Which API resources the operator may call, found through the dynamic client's discovery.

Discovery is the dynamic client's cost, and is handled here: it is lazy (a few GETs the first
time a group is used), resolved resources are kept per (apiVersion, kind) under a lock (the
dynamic client's discovery is not thread-safe, and reconciles run on several threads), a miss is
never kept (the client re-discovers on a miss, so a CRD installed after start is found), and the
discovery cache file is this process's own, in the temp dir (an ``emptyDir`` in the chart, whose
root file system is read-only; failing to write it is harmless), because the client's default
file is keyed by the server's address alone and would let a file from another cluster or an
older CRD answer. A kind outside ``MANAGED_KINDS`` is refused before any request.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
import weakref
from pathlib import Path

from kubernetes import client
from kubernetes.dynamic import DynamicClient, Resource

from gptoss_operator.errors import KubeRejected
from gptoss_operator.kube.answers import answers

__all__ = ["MANAGED_KINDS", "Discovery"]

MANAGED_KINDS = frozenset(
    {
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "Service"),
        ("v1", "Pod"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "ConfigMap"),
        ("v1", "Event"),
        ("v1", "Node"),  # read-only: GPUs per node of a product
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("coordination.k8s.io/v1", "Lease"),
        ("batch/v1", "Job"),
        ("inference.networking.k8s.io/v1", "InferencePool"),
        ("gptoss.dev/v1alpha1", "GptOssDeployment"),
    }
)


class Discovery:
    """The dynamic client's resources for the kinds gptoss manages, resolved once each."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], Resource] = {}
        cache = Path(tempfile.gettempdir()) / f"gptoss-operator-discovery-{uuid.uuid4().hex}.json"
        self._cache_file = cache
        weakref.finalize(self, cache.unlink, missing_ok=True)

    def resource(self, api_version: str, kind: str) -> Resource:
        """The dynamic client's resource for a kind gptoss manages (discovered on first use)."""
        if (api_version, kind) not in MANAGED_KINDS:
            raise KubeRejected(f"gptoss does not manage {kind} ({api_version})")
        with self._lock:
            found = self._resources.get((api_version, kind))
            if found is not None:
                return found
            with answers("DISCOVER", f"{kind} ({api_version})"):
                if self._dynamic is None:
                    self._dynamic = DynamicClient(  # type: ignore[no-untyped-call]
                        self._api, cache_file=str(self._cache_file)
                    )
                prefix = "api" if api_version == "v1" else "apis"
                resource: Resource = self._dynamic.resources.get(
                    prefix=prefix, api_version=api_version, kind=kind
                )
            self._resources[(api_version, kind)] = resource
            return resource
