"""An in-memory stand-in for the calls a reconcile makes on the API server, for tests of the
reconciler that need no cluster."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, cast

from gptoss_operator.kube.client import Kube
from gptoss_operator.reconciling.reconcile import reconcile
from gptoss_operator.settings import OperatorSettings

Key = tuple[str, str, str | None, str]


class MemoryApi:
    """The calls a reconcile makes, on objects kept in a dict; a controller's ``status`` is
    written by the test, and applying keeps it as the API server does."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.status_patches: list[dict[str, Any]] = []

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        found = self.objects.get((api_version, kind, namespace, name))
        return copy.deepcopy(found)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        stored = copy.deepcopy(obj)
        if key in self.objects and "status" in self.objects[key]:
            stored["status"] = self.objects[key]["status"]
        self.objects[key] = stored
        return copy.deepcopy(stored)

    def list(self, api_version: str, kind: str, namespace: str | None, **_: Any) -> Any:
        return [
            copy.deepcopy(obj)
            for (api, k, ns, _name), obj in self.objects.items()
            if (api, k) == (api_version, kind) and namespace in (None, ns)
        ]

    def patch_status(self, *args: Any, **_: Any) -> None:
        self.status_patches.append(args[-1])

    def one(self, kind: str) -> dict[str, Any]:
        found = [obj for (_api, k, _ns, _name), obj in self.objects.items() if k == kind]
        assert len(found) == 1, f"{len(found)} {kind}s"
        return found[0]

    def serving(self, ready: int) -> None:
        """The Deployment controller has caught up and ``ready`` replicas pass readiness."""
        deployment = self.one("Deployment")
        deployment["status"] = {
            "observedGeneration": deployment["metadata"].get("generation", 0),
            "replicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
        }


NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def cr(spec: dict[str, Any], *, generation: int = 1) -> dict[str, Any]:
    """A GptOssDeployment ``chat`` in namespace ``ml`` with ``spec``, as the API server hands
    it to the operator."""
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u-1", "generation": generation},
        "spec": spec,
    }


def reconciled(api: MemoryApi, body: dict[str, Any]) -> dict[str, Any]:
    """Reconcile ``body`` against ``api`` at ``NOW``; the status it computed."""
    return reconcile(body, cast(Kube, api), OperatorSettings(), now=NOW).status
