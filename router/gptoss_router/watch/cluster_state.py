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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_router.config import PriceCap, SpillCondition, SpilloverConfig

__all__ = [
    "NO_SPILL",
    "VLLM_PORT",
    "ClusterState",
    "Deployment",
    "Served",
    "parse_selector",
    "pod_url",
    "read_deployment",
    "strictest",
]

VLLM_PORT = 8000
NO_SPILL = SpilloverConfig(providers=frozenset())
_WHEN = {
    "Saturated": SpillCondition.SATURATED,
    "ScaledToZero": SpillCondition.SCALED_TO_ZERO,
    "Unavailable": SpillCondition.UNAVAILABLE,
}
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One GptOssDeployment as routing needs it."""

    namespace: str
    name: str
    model: str
    selector: dict[str, str] | None
    spillover: SpilloverConfig


@dataclass(frozen=True, slots=True)
class _Pod:
    namespace: str
    labels: dict[str, str]
    url: str | None


@dataclass(frozen=True, slots=True)
class Served:
    """A model the cluster serves: its ready pods' URLs and its spillover policy."""

    urls: list[str]
    spillover: SpilloverConfig
    deployments: tuple[str, ...] = ()  # "namespace/name" of each GptOssDeployment serving it


def parse_selector(text: str | None) -> dict[str, str] | None:
    """An equality-based label selector (``a=b,c==d``) as a dict; None if absent or set-based."""
    if not text:
        return None
    labels: dict[str, str] = {}
    for term in text.split(","):
        key, sep, value = term.partition("=")
        value = value.removeprefix("=")
        if not sep or not key.strip() or "!" in key or "(" in term:
            return None
        labels[key.strip()] = value.strip()
    return labels


def read_spillover(spec: Mapping[str, Any]) -> SpilloverConfig:
    """``spec.spillover`` as a policy; an unset block keeps requests in the cluster."""
    block = spec.get("spillover")
    if not isinstance(block, dict):
        return NO_SPILL
    providers = block.get("providers")
    cap = block.get("maxPricePerMillionTokens") or {}
    when = block.get("when")
    return SpilloverConfig(
        providers=frozenset(providers) if isinstance(providers, list) else None,
        max_price=PriceCap(input=cap.get("input"), output=cap.get("output")),
        when=frozenset(_WHEN[w] for w in when if w in _WHEN)
        if isinstance(when, list)
        else frozenset(SpillCondition),
    )


def read_deployment(obj: Mapping[str, Any]) -> Deployment | None:
    """A GptOssDeployment from its JSON; None if it names no model."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    model = spec.get("model")
    if not isinstance(model, str) or not model:
        return None
    return Deployment(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        model=model,
        selector=parse_selector(status.get("selector")),
        spillover=read_spillover(spec),
    )


def pod_url(obj: Mapping[str, Any], port: int = VLLM_PORT) -> str | None:
    """``http://<podIP>:<port>`` for a Running, Ready pod not being deleted; else None."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") != "Running":
        return None
    ip = status.get("podIP")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    if not ip or not ready:
        return None
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}"


def strictest(policies: Iterable[SpilloverConfig]) -> SpilloverConfig:
    """What every one of ``policies`` allows (see the module's rules)."""
    found = list(policies)
    if not found:
        return NO_SPILL
    providers: frozenset[str] | None = None
    cap = PriceCap()
    when = frozenset(SpillCondition)
    for policy in found:
        if policy.providers is not None:
            providers = policy.providers if providers is None else providers & policy.providers
        cap = cap.tighten(policy.max_price)
        when &= policy.when
    return SpilloverConfig(providers=providers, max_price=cap, when=when)


class ClusterState:
    """The GptOssDeployments and labelled pods last seen, by namespace and name."""

    def __init__(self) -> None:
        self._deployments: dict[Key, Deployment] = {}
        self._pods: dict[Key, _Pod] = {}

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
        self._pods[_key(obj)] = _Pod(str(meta.get("namespace", "")), dict(labels), pod_url(obj))

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

    def served(self) -> dict[str, Served]:
        """Per model: the URLs of its ready pods (sorted) and its spillover policy."""
        urls: dict[str, set[str]] = {}
        policies: dict[str, list[SpilloverConfig]] = {}
        owners: dict[str, list[str]] = {}
        for (namespace, name), deployment in sorted(self._deployments.items()):
            owners.setdefault(deployment.model, []).append(f"{namespace}/{name}")
            policies.setdefault(deployment.model, []).append(deployment.spillover)
            found = urls.setdefault(deployment.model, set())
            selector = deployment.selector
            if selector is None:
                continue
            for pod in self._pods.values():
                if (
                    pod.url is not None
                    and pod.namespace == deployment.namespace
                    and all(pod.labels.get(k) == v for k, v in selector.items())
                ):
                    found.add(pod.url)
        return {
            model: Served(sorted(urls[model]), strictest(policies[model]), tuple(owners[model]))
            for model in policies
        }


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
