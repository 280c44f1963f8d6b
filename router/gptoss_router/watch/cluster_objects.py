"""GptOssDeployments and their pods as routing reads them from the API's JSON (pure): the name a
deployment is served under, its spillover policy and selector, and each pod's URL and adapters.
``cluster_state`` turns these into pools (its docstring has the rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_router.config.models import SpillCondition, SpilloverConfig
from gptoss_router.config.prices import PriceCap

__all__ = [
    "ADAPTERS_ANNOTATION",
    "BASE_MODELS",
    "NO_SPILL",
    "VLLM_PORT",
    "Deployment",
    "PodView",
    "custom_weights",
    "parse_selector",
    "pod_adapters",
    "pod_url",
    "read_deployment",
    "read_spillover",
    "served_name",
    "strictest",
]

VLLM_PORT = 8000
ADAPTERS_ANNOTATION = "gptoss.dev/adapters"
BASE_MODELS = frozenset({"gpt-oss-120b", "gpt-oss-20b"})
NO_SPILL = SpilloverConfig(providers=frozenset())
_WHEN = {
    "Saturated": SpillCondition.SATURATED,
    "ScaledToZero": SpillCondition.SCALED_TO_ZERO,
    "Unavailable": SpillCondition.UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class Deployment:
    """One GptOssDeployment as routing needs it."""

    namespace: str
    name: str
    model: str
    selector: dict[str, str] | None
    spillover: SpilloverConfig
    served: str = ""  # the name it is served under (served_name); "" means ``model``
    custom: bool = False  # custom weights (custom_weights)
    served_field: str = "spec.model"  # the field the served name comes from
    adapters: tuple[str, ...] = ()
    accept_base: bool = False  # spec.spillover.acceptBaseModel
    created: str = ""  # metadata.creationTimestamp (RFC 3339 sorts as text)

    @property
    def name_served(self) -> str:
        return self.served or self.model

    @property
    def fine_tuned(self) -> bool:
        """Custom weights, or served under a name of its own (servedModelName)."""
        return self.custom or self.name_served != self.model


@dataclass(frozen=True, slots=True)
class PodView:
    """A labelled pod as routing needs it: its namespace, labels, URL while ready, and the
    adapters its template's annotation names."""

    namespace: str
    labels: dict[str, str]
    url: str | None
    adapters: frozenset[str] = frozenset()


def custom_weights(spec: Mapping[str, Any]) -> bool:
    """Whether ``spec.source.uri`` names weights other than the base checkpoint."""
    source = spec.get("source") or {}
    uri = source.get("uri") if isinstance(source, dict) else None
    return isinstance(uri, str) and bool(uri) and uri != f"hf://openai/{spec.get('model')}"


def served_name(name: str, spec: Mapping[str, Any]) -> str:
    """The model name a GptOssDeployment is served under (see the module's rules)."""
    explicit = spec.get("servedModelName")
    if isinstance(explicit, str) and explicit:
        return explicit
    return name if custom_weights(spec) else str(spec.get("model") or "")


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
    name = str(meta.get("name", ""))
    adapters = spec.get("adapters")
    spill = spec.get("spillover")
    return Deployment(
        namespace=str(meta.get("namespace", "")),
        name=name,
        model=model,
        selector=parse_selector(status.get("selector")),
        spillover=read_spillover(spec),
        served=served_name(name, spec),
        custom=custom_weights(spec),
        served_field=(
            "spec.servedModelName"
            if spec.get("servedModelName")
            else "metadata.name (custom weights in spec.source)"
            if custom_weights(spec)
            else "spec.model"
        ),
        adapters=tuple(
            str(a["name"])
            for a in (adapters if isinstance(adapters, list) else [])
            if isinstance(a, dict) and a.get("name")
        ),
        accept_base=isinstance(spill, dict) and spill.get("acceptBaseModel") is True,
        created=str(meta.get("creationTimestamp", "")),
    )


def pod_adapters(obj: Mapping[str, Any]) -> frozenset[str]:
    """The adapters a pod's vLLM loads (its ``gptoss.dev/adapters`` annotation)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(ADAPTERS_ANNOTATION) or ""
    return frozenset(part.strip() for part in str(text).split(",") if part.strip())


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
