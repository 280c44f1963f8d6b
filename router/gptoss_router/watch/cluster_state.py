"""What the cluster says about local serving, and the pools and policies it implies (pure).

Kubernetes objects come in as the API's JSON (dicts) and are read here; ``kube_discovery`` does
the watching. Rules:

- a ``GptOssDeployment`` serves ``spec.model`` with the pods its ``status.selector`` (written
  by the operator, ``gptoss.dev/deployment=<name>``) matches in its own namespace;
- a pod is a backend, at ``http://<podIP>:8000``, while it is Running, Ready and not being
  deleted; each pod is its own backend, never a Service;
- ``spec.spillover`` becomes the model's spillover policy; without it the model's requests stay
  in the cluster (no provider may take them). When several deployments serve one model a
  request may spill only where all of them allow it: the providers they all name, under the
  lowest price caps, in the situations they all list.

Fine-tunes and adapters (``served_name``):

- a deployment is served under ``spec.servedModelName``, else, with custom weights (a
  ``spec.source.uri`` other than the base checkpoint ``hf://openai/<model>``), under its own
  name, else under ``spec.model``. Only base weights under the base name pool together across
  deployments; a fine-tune is its own model, with ``parent`` its base;
- each of ``spec.adapters`` is a model of its own, with ``parent`` the deployment's served
  name, served by the deployment's pods that list it in their ``/v1/models`` (``listed``, read
  by ``pod_models``); a pod not read yet counts by its ``gptoss.dev/adapters`` annotation (pods
  of an older template lack a newly added adapter; with adapters loaded at run time there is
  none, so such a pod serves no adapter until it is read);
- a fine-tune or adapter spills only to providers listing its own name, unless
  ``spec.spillover.acceptBaseModel`` says the base model may answer in its place
  (``hosted_as``);
- a name claimed twice (two fine-tunes, an adapter and a model, custom weights under a base
  name) is served by the deployment created first; the others are in ``conflicts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gptoss_router.config.models import SpilloverConfig
from gptoss_router.watch.cluster_objects import (
    BASE_MODELS,
    NO_SPILL,
    VLLM_PORT,
    Deployment,
    PodView,
    custom_weights,
    parse_selector,
    pod_adapters,
    pod_url,
    read_deployment,
    served_name,
    strictest,
)

__all__ = [
    "NO_SPILL",
    "VLLM_PORT",
    "ClusterState",
    "Conflict",
    "Deployment",
    "Served",
    "custom_weights",
    "parse_selector",
    "pod_adapters",
    "pod_url",
    "read_deployment",
    "served_name",
    "strictest",
]

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True, order=True)
class Conflict:
    """A name a deployment asks for that another one (``holder``) already serves."""

    deployment: str  # namespace/name
    field: str  # where the name comes from, e.g. spec.servedModelName
    name: str
    holder: str  # namespace/name, or "the base model"

    def __str__(self) -> str:
        return (
            f"GptOssDeployment {self.deployment}: {self.field} {self.name!r} is already served "
            f"by {self.holder}; it is not served under that name until one of them changes it"
        )


@dataclass(frozen=True, slots=True)
class Served:
    """A model the cluster serves: its ready pods' URLs and its spillover policy."""

    urls: list[str]
    spillover: SpilloverConfig
    deployments: tuple[str, ...] = ()  # "namespace/name" of each GptOssDeployment serving it
    parent: str | None = None  # the base of a fine-tune, the served model of an adapter
    hosted_as: str | None = None  # the providers' model that may answer in its place
    namespaces: frozenset[str] = frozenset()
    namespace_of: dict[str, str] = field(default_factory=dict)  # pod URL -> namespace


class ClusterState:
    """The GptOssDeployments and labelled pods last seen, by namespace and name."""

    def __init__(self) -> None:
        self._deployments: dict[Key, Deployment] = {}
        self._pods: dict[Key, PodView] = {}
        self._conflicts: list[Conflict] = []

    def put_deployment(self, obj: Mapping[str, Any]) -> None:
        """A deployment was added or changed."""
        key = _key(obj)
        found = read_deployment(obj)
        if found is None:
            self._deployments.pop(key, None)
        else:
            self._deployments[key] = found

    def drop_deployment(self, obj: Mapping[str, Any]) -> None:
        """A deployment was deleted."""
        self._deployments.pop(_key(obj), None)

    def put_pod(self, obj: Mapping[str, Any]) -> None:
        """A pod was added or changed."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        self._pods[_key(obj)] = PodView(
            str(meta.get("namespace", "")), dict(labels), pod_url(obj), pod_adapters(obj)
        )

    def drop_pod(self, obj: Mapping[str, Any]) -> None:
        """A pod was deleted."""
        self._pods.pop(_key(obj), None)

    def reset(self, kind: str, namespace: str | None, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every ``kind`` ("deployments"/"pods") object in ``namespace`` (None: all)."""
        table: dict[Key, Any] = self._deployments if kind == "deployments" else self._pods
        for key in [k for k in table if namespace is None or k[0] == namespace]:
            del table[key]
        put = self.put_deployment if kind == "deployments" else self.put_pod
        for obj in objs:
            put(obj)

    def adapter_pod_urls(self) -> set[str]:
        """The URLs of the ready pods of every deployment with adapters."""
        return {
            pod.url
            for deployment in self._deployments.values()
            if deployment.adapters
            for pod in self._pods_of(deployment)
            if pod.url is not None
        }

    def served(self, listed: Mapping[str, frozenset[str]] | None = None) -> dict[str, Served]:
        """Per model: the URLs of its ready pods (sorted), its spillover policy, its parent and
        where it is served (see the module's rules); ``listed``: the adapters each pod URL's
        ``/v1/models`` last listed."""
        read = listed or {}
        pools: dict[str, _Pool] = {}
        self._conflicts = []
        order = sorted(self._deployments.values(), key=lambda d: (d.created, d.namespace, d.name))
        for deployment in order:
            pods = self._pods_of(deployment)
            owner = f"{deployment.namespace}/{deployment.name}"
            parent = deployment.model if deployment.fine_tuned else None
            hosted = deployment.model if deployment.accept_base else None
            claims = [(deployment.served_field, deployment.name_served, parent, pods)]
            claims += [
                (
                    f"spec.adapters[{index}].name",
                    adapter,
                    deployment.name_served,
                    [p for p in pods if adapter in read.get(p.url or "", p.adapters)],
                )
                for index, adapter in enumerate(deployment.adapters)
            ]
            for where, name, of, members in claims:
                shared = of is None and name in BASE_MODELS
                pool = pools.get(name)
                if pool is not None and not (shared and pool.shared):
                    self._conflicts.append(Conflict(owner, where, name, pool.owners[0]))
                    continue
                if pool is None and not shared and name in BASE_MODELS:
                    # Custom weights under a base model's name would pass for the base.
                    self._conflicts.append(Conflict(owner, where, name, "the base model"))
                    continue
                if pool is None:
                    pool = pools[name] = _Pool(shared=shared, parent=of)
                    pool.hosted_as = hosted if not shared else None
                pool.owners.append(owner)
                pool.policies.append(deployment.spillover)
                pool.namespaces.add(deployment.namespace)
                for pod in members:
                    if pod.url is not None:
                        pool.urls[pod.url] = pod.namespace
        return {
            name: Served(
                sorted(pool.urls),
                strictest(pool.policies),
                tuple(pool.owners),
                parent=pool.parent,
                hosted_as=pool.hosted_as,
                namespaces=frozenset(pool.namespaces),
                namespace_of=dict(pool.urls),
            )
            for name, pool in pools.items()
        }

    def conflicts(self) -> list[Conflict]:
        """Each name the last ``served()`` left unserved because another deployment (or the
        base model) has it already."""
        return list(self._conflicts)

    def _pods_of(self, deployment: Deployment) -> list[PodView]:
        selector = deployment.selector
        if selector is None:
            return []
        return [
            pod
            for pod in self._pods.values()
            if pod.namespace == deployment.namespace
            and all(pod.labels.get(k) == v for k, v in selector.items())
        ]


@dataclass
class _Pool:
    shared: bool  # base weights under the base name: deployments pool together
    parent: str | None
    hosted_as: str | None = None
    owners: list[str] = field(default_factory=list)
    policies: list[SpilloverConfig] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)
    urls: dict[str, str] = field(default_factory=dict)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
