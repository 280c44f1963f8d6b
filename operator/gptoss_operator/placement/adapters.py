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
* ``spec.adapterLoading: Runtime``: the replicas start with ``--enable-lora`` and
  ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` but no ``--lora-modules``, and the operator loads
  and unloads adapters on each ready pod (``gptoss_operator.loading``), so changing
  ``spec.adapters`` restarts nothing. The flags must not follow the list then: ``--max-loras``
  is ``spec.serving.maxLoras`` or vLLM's default 1, ``--max-lora-rank``
  ``spec.serving.maxLoraRank`` or vLLM's default 16. ``s3://`` and ``gs://`` adapters are
  refused in that mode (only an init container, at pod start, copies them); ``pvc://`` claims
  stay mounted, so only a claim not mounted yet changes the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import InvalidAdapters

__all__ = [
    "ADAPTERS_ANNOTATION",
    "LOADED_ANNOTATION",
    "MAX_LORA_RANKS",
    "RUNTIME_LOADING",
    "RUNTIME_UPDATING_ENV",
    "AdapterPlan",
    "adapter_paths",
    "custom_weights",
    "lora_limits",
    "plan_adapters",
    "served_model_name",
    "served_names",
]

ADAPTERS_ANNOTATION = "gptoss.dev/adapters"
# On a pod: the adapters its vLLM lists in /v1/models, as the operator last read them.
LOADED_ANNOTATION = "gptoss.dev/loaded-adapters"
BASE_MODELS = frozenset({"gpt-oss-120b", "gpt-oss-20b"})
ADAPTERS_DIR = "/adapters"
RUNTIME_LOADING = "Runtime"
# vLLM's switch for /v1/load_lora_adapter and /v1/unload_lora_adapter (vllm/envs.py).
RUNTIME_UPDATING_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"
# vLLM's defaults for --max-loras and --max-lora-rank (vllm/config/lora.py).
VLLM_MAX_LORAS = 1
VLLM_MAX_LORA_RANK = 16
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
    env: tuple[tuple[str, str], ...] = ()
    paths: tuple[tuple[str, str], ...] = ()  # (adapter, the path vLLM loads it from)


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


def lora_limits(spec: GptOssDeploymentSpec) -> tuple[int, int]:
    """``--max-loras`` and ``--max-lora-rank`` for ``spec.adapters`` (non-empty unless loaded
    at run time, where the list does not set them: see the module's rules).

    Raises InvalidAdapters naming the fields when an adapter's rank is above
    ``spec.serving.maxLoraRank`` (at run time: above it or vLLM's default)."""
    adapters = spec.adapters or []
    explicit: int | None = spec.serving.max_lora_rank
    if spec.adapter_loading == RUNTIME_LOADING:
        explicit = explicit or VLLM_MAX_LORA_RANK
    largest = max((adapter.rank for adapter in adapters), default=1)
    rank: int
    if explicit is not None:
        for index, adapter in enumerate(adapters):
            if adapter.rank > explicit:
                hint = (
                    "raise spec.serving.maxLoraRank (vLLM's default is 16)"
                    if spec.adapter_loading == RUNTIME_LOADING
                    else "raise maxLoraRank or leave it unset"
                )
                raise InvalidAdapters(
                    f"spec.adapters[{index}].rank ({adapter.rank}, adapter {adapter.name}) is "
                    f"above spec.serving.maxLoraRank ({explicit}): vLLM would refuse the adapter; "
                    + hint
                )
        rank = explicit
    else:
        rank = next((r for r in MAX_LORA_RANKS if r >= largest), MAX_LORA_RANKS[-1])
    if spec.adapter_loading == RUNTIME_LOADING:
        return spec.serving.max_loras or VLLM_MAX_LORAS, rank
    return spec.serving.max_loras or len(adapters), rank


def _split(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.partition("://")
    return scheme, rest.strip("/")


def _check_secret(index: int, scheme: str, secret: str | None, spec: GptOssDeploymentSpec) -> None:
    """A ``secretName`` reaches what fetches the adapter: the init container that copies an
    s3:// or gs:// one. vLLM downloads an hf:// adapter itself, with the one token its process
    has (``spec.source.secretName``'s ``HF_TOKEN``); a pvc:// one needs none. A secret that
    would reach nothing is refused rather than ignored."""
    if not secret or scheme not in ("hf", "pvc"):
        return
    source = spec.source.secret_name if spec.source else None
    if scheme == "hf" and secret == source:
        return
    where = f"spec.adapters[{index}].secretName {secret!r}"
    if scheme == "pvc":
        raise InvalidAdapters(f"{where}: a pvc:// adapter is mounted, nothing uses a secret")
    raise InvalidAdapters(
        f"{where}: vLLM downloads an hf:// adapter with its own process's token, the HF_TOKEN of "
        + (
            f"spec.source.secretName {source!r}; give that Secret access to the adapter"
            if source
            else "spec.source.secretName; set it to this Secret"
        )
    )


def _check_served_name(served: str, spec: GptOssDeploymentSpec) -> None:
    """Refuse a base model's name for anything but that base model's own weights."""
    if served not in BASE_MODELS:
        return
    if custom_weights(spec):
        raise InvalidAdapters(
            f"spec.servedModelName {served!r} is a base model's name, but spec.source holds "
            "custom weights: clients and the router would take them for the base model; "
            "choose a name of their own"
        )
    if served != spec.model:
        raise InvalidAdapters(
            f"spec.servedModelName {served!r} is the other base model's name, but the "
            f"replicas serve {spec.model}: clients and the router would take one model for "
            f"the other; leave it unset (the name is then {spec.model}) or choose a name of "
            "its own"
        )


def plan_adapters(cr_name: str, spec: GptOssDeploymentSpec) -> AdapterPlan:
    """The served name and LoRA flags, volumes and init containers of the CR's replicas."""
    served = served_model_name(cr_name, spec)
    _check_served_name(served, spec)
    adapters = spec.adapters or []
    runtime = spec.adapter_loading == RUNTIME_LOADING
    if not adapters and not runtime:
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
    for index, adapter in enumerate(adapters):
        scheme, path = _split(adapter.uri)
        if runtime and scheme not in ("hf", "pvc"):
            raise InvalidAdapters(
                f"spec.adapters[{index}].uri {adapter.uri!r}: with spec.adapterLoading Runtime "
                "an adapter must be hf:// or pvc:// (an s3:// or gs:// adapter is copied by an "
                "init container when a pod starts, which run-time loading avoids)"
            )
        _check_secret(index, scheme, adapter.secret_name, spec)
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
    limits = ("--enable-lora", "--max-loras", str(max_loras), "--max-lora-rank", str(max_rank))
    if runtime:
        # Nothing that follows the list: adding or removing an adapter changes no template.
        return AdapterPlan(
            served,
            limits,
            tuple(volumes),
            tuple(mounts),
            env=((RUNTIME_UPDATING_ENV, "True"),),
            paths=_pairs(modules),
        )
    return AdapterPlan(
        served,
        (*limits, "--lora-modules", *modules),
        tuple(volumes),
        tuple(mounts),
        tuple(init),
        ((ADAPTERS_ANNOTATION, ",".join(names)),),
        paths=_pairs(modules),
    )


def adapter_paths(cr_name: str, spec: GptOssDeploymentSpec) -> dict[str, str]:
    """Per adapter of ``spec``, the path its replicas load it from (``--lora-modules``'
    ``name=path``, or ``lora_path`` at run time), in the order of ``spec.adapters``."""
    return dict(plan_adapters(cr_name, spec).paths)


def _pairs(modules: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, path) for name, _, path in (m.partition("=") for m in modules))


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
