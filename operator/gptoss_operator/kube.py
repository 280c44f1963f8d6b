"""The operator's only door to the Kubernetes API.

Everything else builds plain dicts and decides; this module sends them. Children are written
whole with server-side apply under one field manager (``force`` takes back fields another
writer changed), the CR's status through its status subresource, and reads return plain dicts.
Client errors become :mod:`gptoss_operator.errors` types here and nowhere else.

Calls go through the client's public ``kubernetes.dynamic.DynamicClient``: one generic path for
every kind (built-in or the CRD), raw JSON in and out, and server-side apply, status and scale
subresources as methods. The typed APIs (``AppsV1Api``, ``CoreV1Api``, ...) would need a method
table per kind and verb and parse answers into models that do not map back to the JSON the
server sent (``...Z`` timestamps come back as ``...+00:00``), while the drift check that keeps a
settled reconcile at zero writes compares live objects field by field; and loading
``CoreV1Api`` alone costs 3.7 s and 91 MiB of RSS (client 37.0.2, measured here). Discovery is
the dynamic client's cost, and is
handled here: it is lazy (a few GETs the first time a group is used), resolved resources are
kept per (apiVersion, kind) under a lock (the dynamic client's discovery is not thread-safe,
and reconciles run on several threads), a miss is never kept (the client re-discovers on a
miss, so a CRD installed after start is found), and the discovery cache file is this process's
own, in the temp dir (an ``emptyDir`` in the chart, whose root file system is read-only;
failing to write it is harmless), because the client's default file is keyed by the server's
address alone and would let a file from another cluster or an older CRD answer.

Events are core/v1 Events built as the client's ``CoreV1Event`` model and created through the
same dynamic client. Not ``kopf.event``: Kopf queues events through a context variable that it
sets in each object's processing task only, so it works from the Kopf handlers but raises
``LookupError`` in the resync thread and the autoscaler (tasks of the startup handler; tried
against a local cluster), and reconciles also run outside Kopf. Not ``CoreV1Api`` either (its
load cost, for one call), nor ``events.k8s.io/v1`` (``EventsV1Api``): the chart's role grants
``create`` on core events only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient, Resource
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError
from urllib3.exceptions import HTTPError as TransportError

from gptoss_operator import __version__
from gptoss_operator.errors import KubeConflict, KubeError, KubeRejected, KubeUnavailable

__all__ = ["FIELD_MANAGER", "MANAGED_KINDS", "Kube"]

FIELD_MANAGER = "gptoss-operator"

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


class Kube:
    """Synchronous calls through one shared kubernetes ``ApiClient`` (safe across threads)."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        identity: str | None = None,
    ) -> None:
        """``identity`` names this process (an operator replica) in its user agent and in the
        Events it posts, so the API server's audit log tells replicas apart."""
        api.user_agent = f"{field_manager}/{__version__}" + (f" ({identity})" if identity else "")
        self._api = api
        self._field_manager = field_manager
        self._instance = identity or field_manager
        self._lock = threading.Lock()
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], Resource] = {}
        cache = Path(tempfile.gettempdir()) / f"gptoss-operator-discovery-{uuid.uuid4().hex}.json"
        self._discovery_cache = cache
        weakref.finalize(self, cache.unlink, missing_ok=True)

    def _resource(self, api_version: str, kind: str) -> Resource:
        """The dynamic client's resource for a kind gptoss manages (discovered on first use)."""
        if (api_version, kind) not in MANAGED_KINDS:
            raise KubeRejected(f"gptoss does not manage {kind} ({api_version})")
        with self._lock:
            found = self._resources.get((api_version, kind))
            if found is not None:
                return found
            with _answers("DISCOVER", f"{kind} ({api_version})"):
                if self._dynamic is None:
                    self._dynamic = DynamicClient(  # type: ignore[no-untyped-call]
                        self._api, cache_file=str(self._discovery_cache)
                    )
                prefix = "api" if api_version == "v1" else "apis"
                resource: Resource = self._dynamic.resources.get(
                    prefix=prefix, api_version=api_version, kind=kind
                )
            self._resources[(api_version, kind)] = resource
            return resource

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` whole, taking ownership of every field it sets."""
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        with _answers("PATCH", _path(resource, meta.get("namespace"), meta["name"])):
            return _dict(
                resource.server_side_apply(
                    body=obj,
                    name=meta["name"],
                    namespace=meta.get("namespace"),
                    field_manager=self._field_manager,
                    force_conflicts=True,
                )
            )

    def get(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """The object, or None if there is none; ``timeout`` bounds the request (seconds)."""
        try:
            resource = self._resource(api_version, kind)
            with _answers("GET", _path(resource, namespace, name)):
                return _dict(resource.get(name=name, namespace=namespace, _request_timeout=timeout))
        except KubeRejected as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        labels: str | None = None,
        fields: str | None = None,
    ) -> list[dict[str, Any]]:
        resource = self._resource(api_version, kind)
        with _answers("GET", _path(resource, namespace)):
            found = _dict(
                resource.get(namespace=namespace, label_selector=labels, field_selector=fields)
            )
        return list(found.get("items") or [])

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        try:
            resource = self._resource(api_version, kind)
            with _answers("DELETE", _path(resource, namespace, name)):
                resource.delete(name=name, namespace=namespace, propagation_policy="Background")
        except KubeRejected as exc:
            if exc.status != 404:
                raise

    def patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status subresource (``None`` values delete keys); with
        ``resource_version``, only onto that version of the object (else ``KubeConflict``)."""
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._patch_subresource(api_version, kind, namespace, name, "status", body)

    def merge_patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the object (``None`` values delete keys), e.g. a pod's annotations."""
        resource = self._resource(api_version, kind)
        with _answers("PATCH", _path(resource, namespace, name)):
            return _dict(
                resource.patch(
                    body=body,
                    name=name,
                    namespace=namespace,
                    content_type="application/merge-patch+json",
                )
            )

    def post_event(
        self, involved: dict[str, Any], *, type: str, reason: str, message: str, now: str
    ) -> None:
        """Record a core/v1 Event about ``involved`` (best effort: failures are swallowed,
        an Event is never worth failing a reconcile for)."""
        meta = involved["metadata"]
        stamp = dt.datetime.fromisoformat(now)
        event = client.CoreV1Event(
            api_version="v1",
            kind="Event",
            metadata=client.V1ObjectMeta(
                generate_name=f"{meta['name']}.", namespace=meta["namespace"]
            ),
            involved_object=client.V1ObjectReference(
                api_version=involved.get("apiVersion"),
                kind=involved.get("kind"),
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            type=type,
            reason=reason,
            message=message[:1024],
            source=client.V1EventSource(component=self._field_manager),
            reporting_component=f"gptoss.dev/{self._field_manager}",
            reporting_instance=self._instance,
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
        )
        with contextlib.suppress(KubeError):
            self.create(json.loads(event.to_json()))

    def scale(self, api_version: str, kind: str, namespace: str, name: str, replicas: int) -> None:
        """Set ``spec.replicas`` through the scale subresource (as HPA and KEDA do)."""
        self._patch_subresource(
            api_version, kind, namespace, name, "scale", {"spec": {"replicas": replicas}}
        )

    def replace(self, obj: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """PUT ``obj`` whole; at its ``metadata.resourceVersion`` if set (else ``KubeConflict``)."""
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        with _answers("PUT", _path(resource, meta.get("namespace"), meta["name"])):
            return _dict(
                resource.replace(
                    body=obj,
                    name=meta["name"],
                    namespace=meta.get("namespace"),
                    _request_timeout=timeout,
                )
            )

    def create(self, obj: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        meta = obj["metadata"]
        resource = self._resource(obj["apiVersion"], obj["kind"])
        with _answers("POST", _path(resource, meta.get("namespace"))):
            return _dict(
                resource.create(body=obj, namespace=meta.get("namespace"), _request_timeout=timeout)
            )

    def _patch_subresource(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        subresource: str,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        resource = self._resource(api_version, kind)
        path = f"{_path(resource, namespace, name)}/{subresource}"
        with _answers("PATCH", path):
            if subresource not in resource.subresources:
                raise KubeRejected(f"PATCH {path}: {kind} has no {subresource} subresource")
            return _dict(
                resource.subresources[subresource].patch(
                    body=body,
                    name=name,
                    namespace=namespace,
                    content_type="application/merge-patch+json",
                )
            )


def _path(resource: Resource, namespace: str | None, name: str | None = None) -> str:
    """The request's path, for error messages."""
    return str(resource.path(name=name, namespace=namespace))  # type: ignore[no-untyped-call]


def _dict(answer: Any) -> dict[str, Any]:
    """A dynamic client's answer (a ``ResourceInstance``) as the plain dict the server sent."""
    found: dict[str, Any] = answer.to_dict()
    return found


@contextlib.contextmanager
def _answers(method: str, path: str) -> Iterator[None]:
    """Turn the client's errors of the block into the operator's."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise KubeRejected(
            f"{method} {path}: 404 not served by the API server", status=404
        ) from exc
    except ResourceNotUniqueError as exc:
        raise KubeRejected(f"{method} {path}: {exc}") from exc
    except ApiException as exc:
        raise _translate(int(exc.status or 0), str(exc.reason), exc.body, method, path) from exc
    except TransportError as exc:
        raise KubeUnavailable(f"{method} {path}: {exc}") from exc


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


def connect(kubeconfig: str | None = None, *, identity: str | None = None) -> Kube:
    """A Kube for the pod's service account in a cluster, else for the local kubeconfig."""
    from kubernetes import config

    if kubeconfig is None:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            return Kube(client.ApiClient(), identity=identity)
        except config.ConfigException:
            pass
    api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    return Kube(api, identity=identity)
