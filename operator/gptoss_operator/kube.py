"""The operator's only door to the Kubernetes API.

Everything else builds plain dicts and decides; this module sends them. Children are written
whole with server-side apply under one field manager (``force`` takes back fields another
writer changed), the CR's status through its status subresource, and reads return plain dicts.
Client errors become :mod:`gptoss_operator.errors` types here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from gptoss_operator import __version__
from gptoss_operator.errors import KubeConflict, KubeError, KubeRejected, KubeUnavailable

__all__ = ["FIELD_MANAGER", "Kube", "ResourceKind"]

FIELD_MANAGER = "gptoss-operator"


@dataclass(frozen=True)
class ResourceKind:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS: dict[tuple[str, str], ResourceKind] = {
    (k.api_version, k.kind): k
    for k in (
        ResourceKind("apps/v1", "Deployment", "deployments"),
        ResourceKind("apps/v1", "ReplicaSet", "replicasets"),
        ResourceKind("v1", "Service", "services"),
        ResourceKind("v1", "Pod", "pods"),
        ResourceKind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        ResourceKind("v1", "ConfigMap", "configmaps"),
        ResourceKind("v1", "Event", "events"),
        ResourceKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        ResourceKind("batch/v1", "Job", "jobs"),
        ResourceKind("gptoss.dev/v1alpha1", "GptOssDeployment", "gptossdeployments"),
    )
}


def kind_of(api_version: str, kind: str) -> ResourceKind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise KubeRejected(f"gptoss does not manage {kind} ({api_version})") from None


class Kube:
    """Synchronous calls through one shared kubernetes ``ApiClient``."""

    def __init__(self, api: client.ApiClient, *, field_manager: str = FIELD_MANAGER) -> None:
        api.user_agent = f"{field_manager}/{__version__}"
        self._api = api
        self._field_manager = field_manager

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        try:
            request = self._api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*request)
            data = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            raise _translate(int(exc.status or 0), str(exc.reason), exc.body, method, path) from exc
        except TransportError as exc:
            raise KubeUnavailable(f"{method} {path}: {exc}") from exc
        if response.status >= 400:
            raise _translate(response.status, str(response.reason), data, method, path)
        return json.loads(data) if data else {}

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` whole, taking ownership of every field it sets."""
        meta = obj["metadata"]
        path = kind_of(obj["apiVersion"], obj["kind"]).path(meta.get("namespace"), meta["name"])
        query = [("fieldManager", self._field_manager), ("force", "true")]
        result: dict[str, Any] = self._call(
            "PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml"
        )
        return result

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._call(
                "GET", kind_of(api_version, kind).path(namespace, name)
            )
        except KubeRejected as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        labels: str | None = None,
        fields: str | None = None,
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", labels)] if labels else []
        if fields:
            query.append(("fieldSelector", fields))
        result = self._call("GET", kind_of(api_version, kind).path(namespace), query=query)
        return list(result.get("items", []))

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        try:
            self._call(
                "DELETE",
                kind_of(api_version, kind).path(namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except KubeRejected as exc:
            if exc.status != 404:
                raise

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource (``None`` values delete keys)."""
        path = kind_of(api_version, kind).path(namespace, name) + "/status"
        result: dict[str, Any] = self._call(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )
        return result

    def post_event(
        self, involved: dict[str, Any], *, type: str, reason: str, message: str, now: str
    ) -> None:
        """Record a core/v1 Event about ``involved`` (best effort: failures are swallowed,
        an Event is never worth failing a reconcile for)."""
        meta = involved["metadata"]
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self._field_manager},
            "reportingComponent": f"gptoss.dev/{self._field_manager}",
            "reportingInstance": self._field_manager,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with contextlib.suppress(KubeError):
            self.create(event)

    def scale(self, api_version: str, kind: str, namespace: str, name: str, replicas: int) -> None:
        """Set ``spec.replicas`` through the scale subresource (as HPA and KEDA do)."""
        path = kind_of(api_version, kind).path(namespace, name) + "/scale"
        self._call(
            "PATCH",
            path,
            body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
        )

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        path = kind_of(obj["apiVersion"], obj["kind"]).path(meta.get("namespace"))
        result: dict[str, Any] = self._call("POST", path, body=obj)
        return result


def _translate(status: int, reason: str, body: Any, method: str, path: str) -> KubeError:
    """The operator's error for an API answer of ``status``; the body's message is kept."""
    detail = f"{method} {path}: {status} {reason}"
    if status == 409:
        return KubeConflict(f"{detail}: {_message(body)}", status=status)
    if status in (0, 429) or status >= 500:
        return KubeUnavailable(detail, status=status)
    return KubeRejected(f"{detail}: {_message(body)}", status=status)


def _message(body: Any) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        return str(json.loads(text or "{}").get("message", text))
    except ValueError:
        return text


def connect(kubeconfig: str | None = None) -> Kube:
    """A Kube for the pod's service account in a cluster, else for the local kubeconfig."""
    from kubernetes import config

    if kubeconfig is None:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            return Kube(client.ApiClient())
        except config.ConfigException:
            pass
    api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    return Kube(api)
