"""Fine-tuned weights and LoRA adapters: the name a replica is served under, and vLLM's LoRA
flags (pure).

* Served name: ``spec.servedModelName``; else, with custom weights (a ``spec.source.uri`` other
  than the base checkpoint ``hf://openai/<model>``), the CR's own name; else ``spec.model``. A
  fine-tune is never served under the base name, so the router keeps it out of the base
  model's pool and never hands its traffic to a hosted base model unless the CR says so
  (``spec.spillover.acceptBaseModel``). The router applies the same rule to the CR
  (``gptoss_router.watch.cluster_state.served_name``); a test holds the two together.
* Adapters (``spec.adapters``): ``--enable-lora``, ``--max-loras`` (unset: as many as there are
  adapters, so every adapter fits one batch), ``--max-lora-rank`` (unset: the smallest rank
  vLLM offers that holds the largest adapter; vLLM refuses an adapter above it at startup,
  "LoRA rank R is greater than max_lora_rank M", so a rank above an explicit
  ``spec.serving.maxLoraRank`` is refused here, naming both fields), and one ``--lora-modules
  name=path`` per adapter, loaded at startup (docs/sources.md, vLLM LoRA adapters). Paths:
  ``hf://org/repo`` is the repository id (vLLM downloads it); ``pvc://claim/path`` is the claim
  mounted read-only; ``s3://`` and ``gs://`` are copied by an init container into a volume the
  replica keeps for its life.
* The pod template carries ``gptoss.dev/adapters`` (the adapter names, comma-separated): the
  router serves an adapter only from pods whose annotation lists it, so during a rollout that
  adds one, requests for it go only to the new pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_operator.api import GptOssDeploymentSpec
from gptoss_operator.errors import InvalidAdapters

__all__ = [
    "ADAPTERS_ANNOTATION",
    "MAX_LORA_RANKS",
    "AdapterPlan",
    "claimed_names",
    "custom_weights",
    "lora_limits",
    "name_taken",
    "plan_adapters",
    "served_model_name",
    "served_names",
]

ADAPTERS_ANNOTATION = "gptoss.dev/adapters"
BASE_MODELS = frozenset({"gpt-oss-120b", "gpt-oss-20b"})
ADAPTERS_DIR = "/adapters"
# vLLM's --max-lora-rank choices (vllm/config/lora.py).
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_CLI_IMAGES = {
    "s3": "amazon/aws-cli:2.27.0",
    "gs": "gcr.io/google.com/cloudsdktool/google-cloud-cli:slim",
}


@dataclass(frozen=True)
class AdapterPlan:
    """What serving the CR's name and adapters adds to a replica."""

    served_model_name: str
    args: tuple[str, ...] = ()
    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    init_containers: tuple[dict[str, Any], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


def custom_weights(spec: GptOssDeploymentSpec) -> bool:
    """Whether ``spec.source.uri`` names weights other than the base checkpoint."""
    uri = spec.source.uri if spec.source else None
    return bool(uri) and uri != f"hf://openai/{spec.model}"


def served_model_name(cr_name: str, spec: GptOssDeploymentSpec) -> str:
    """The ``--served-model-name`` of the CR's replicas (see the module's rules)."""
    if spec.served_model_name:
        return spec.served_model_name
    return cr_name if custom_weights(spec) else spec.model


def served_names(cr_name: str, spec: GptOssDeploymentSpec) -> frozenset[str]:
    """Every model name clients reach the CR's replicas by: its served name and its adapters'
    (the router labels held and spilled requests with these)."""
    adapters = {adapter.name for adapter in spec.adapters or []}
    return frozenset({served_model_name(cr_name, spec), *adapters})


def claimed_names(cr_name: str, spec: GptOssDeploymentSpec) -> list[tuple[str, str]]:
    """``(field, name)`` for each model name the CR serves that no other CR may serve too: a
    fine-tune's name and its adapters' (base weights under the base name pool, so they claim
    nothing)."""
    claims: list[tuple[str, str]] = []
    served = served_model_name(cr_name, spec)
    if served != spec.model or custom_weights(spec):
        field = (
            "spec.servedModelName"
            if spec.served_model_name
            else "metadata.name (custom weights in spec.source)"
        )
        claims.append((field, served))
    claims += [
        (f"spec.adapters[{index}].name", adapter.name)
        for index, adapter in enumerate(spec.adapters or [])
    ]
    return claims


def name_taken(
    cr: Mapping[str, Any], spec: GptOssDeploymentSpec, others: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why ``cr`` may not serve one of its names: an older GptOssDeployment (``others``, as the
    API returns them) serves it already; None when every name is its own. Older means created
    first, then by namespace and name, the order the router follows too."""
    meta = cr["metadata"]
    me = (str(meta.get("creationTimestamp", "")), str(meta["namespace"]), str(meta["name"]))
    mine = claimed_names(me[2], spec)
    if not mine:
        return None
    for other in sorted(others, key=_age):
        age = _age(other)
        if age >= me:
            break
        try:
            theirs = GptOssDeploymentSpec.model_validate(other.get("spec") or {})
        except ValueError:
            continue
        taken = {name for _, name in claimed_names(age[2], theirs)}
        taken.add(served_model_name(age[2], theirs))
        for field, name in mine:
            if name in taken:
                return (
                    f"{field} {name!r} is already served by GptOssDeployment {age[1]}/{age[2]}, "
                    "created first: the router serves that name from it only; choose another "
                    "name"
                )
    return None


def _age(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(meta.get("creationTimestamp", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def lora_limits(spec: GptOssDeploymentSpec) -> tuple[int, int]:
    """``--max-loras`` and ``--max-lora-rank`` for ``spec.adapters`` (non-empty).

    Raises InvalidAdapters naming the fields when an adapter's rank is above
    ``spec.serving.maxLoraRank``."""
    adapters = spec.adapters or []
    largest = max(adapter.rank for adapter in adapters)
    explicit: int | None = spec.serving.max_lora_rank
    rank: int
    if explicit is not None:
        for index, adapter in enumerate(adapters):
            if adapter.rank > explicit:
                raise InvalidAdapters(
                    f"spec.adapters[{index}].rank ({adapter.rank}, adapter {adapter.name}) is "
                    f"above spec.serving.maxLoraRank ({explicit}): vLLM would refuse the adapter "
                    "at startup; raise maxLoraRank or leave it unset"
                )
        rank = explicit
    else:
        rank = next((r for r in MAX_LORA_RANKS if r >= largest), MAX_LORA_RANKS[-1])
    return spec.serving.max_loras or len(adapters), rank


def _split(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.partition("://")
    return scheme, rest.strip("/")


def plan_adapters(cr_name: str, spec: GptOssDeploymentSpec) -> AdapterPlan:
    """The served name and LoRA flags, volumes and init containers of the CR's replicas."""
    served = served_model_name(cr_name, spec)
    if custom_weights(spec) and served in BASE_MODELS:
        raise InvalidAdapters(
            f"spec.servedModelName {served!r} is a base model's name, but spec.source holds "
            "custom weights: clients and the router would take them for the base model; "
            "choose a name of their own"
        )
    adapters = spec.adapters or []
    if not adapters:
        return AdapterPlan(served)
    names = [adapter.name for adapter in adapters]
    for index, name in enumerate(names):
        if name == served or name in names[:index]:
            raise InvalidAdapters(
                f"spec.adapters[{index}].name {name!r} is already the name of "
                + ("the served model" if name == served else "another adapter")
                + "; every adapter needs a name of its own"
            )
    max_loras, max_rank = lora_limits(spec)
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    init: list[dict[str, Any]] = []
    modules: list[str] = []
    claims: dict[str, str] = {}
    copied = False
    for adapter in adapters:
        scheme, path = _split(adapter.uri)
        if scheme == "hf":
            modules.append(f"{adapter.name}={path}")
            continue
        if scheme == "pvc":
            claim, _, sub = path.partition("/")
            volume = claims.get(claim)
            if volume is None:
                volume = claims[claim] = f"adapter-claim-{len(claims)}"
                volumes.append(
                    {
                        "name": volume,
                        "persistentVolumeClaim": {"claimName": claim, "readOnly": True},
                    }
                )
                mounts.append(
                    {"name": volume, "mountPath": f"{ADAPTERS_DIR}/{volume}", "readOnly": True}
                )
            modules.append(f"{adapter.name}={ADAPTERS_DIR}/{volume}/{sub}".rstrip("/"))
            continue
        copied = True
        target = f"{ADAPTERS_DIR}/copied/{adapter.name}"
        init.append(_copy_container(len(init), scheme, path, target, adapter.secret_name))
        modules.append(f"{adapter.name}={target}")
    if copied:
        volumes.append({"name": "adapters", "emptyDir": {}})
        mounts.append({"name": "adapters", "mountPath": f"{ADAPTERS_DIR}/copied"})
    args = (
        "--enable-lora",
        "--max-loras",
        str(max_loras),
        "--max-lora-rank",
        str(max_rank),
        "--lora-modules",
        *modules,
    )
    return AdapterPlan(
        served,
        args,
        tuple(volumes),
        tuple(mounts),
        tuple(init),
        ((ADAPTERS_ANNOTATION, ",".join(names)),),
    )


def _copy_container(
    index: int, scheme: str, path: str, target: str, secret: str | None
) -> dict[str, Any]:
    if scheme == "s3":
        command = ["aws", "s3", "sync", f"s3://{path}", target, "--only-show-errors"]
    else:
        command = ["gcloud", "storage", "rsync", "--recursive", f"gs://{path}", target]
    container: dict[str, Any] = {
        "name": f"adapter-{index}",
        "image": _CLI_IMAGES[scheme],
        "command": command,
        "volumeMounts": [{"name": "adapters", "mountPath": f"{ADAPTERS_DIR}/copied"}],
    }
    if secret:
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    return container
