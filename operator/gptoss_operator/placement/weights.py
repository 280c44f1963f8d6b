"""Where a replica's weights come from, and what that takes (pure).

* No source, or ``hf://org/repo``: vLLM downloads from Hugging Face at start into its cache
  (``HF_HOME`` on the model-cache volume). With ``spec.cache.pvc`` a download Job fills the
  claim first, so replicas load from it and never download again (kserve #3869: caching cut
  start from 15-20 min to ~1 min); the download skips the ``original/*`` and ``metal/*``
  folders vLLM does not read, as Dynamo's gpt-oss download does (docs/sources.md, vLLM recipe).
* ``pvc://claim/path``: a checkpoint already on a volume (a fine-tune, say), mounted read-only;
  nothing is downloaded and the hub is switched off (``HF_HUB_OFFLINE=1``), unless vLLM must
  download an ``hf://`` LoRA adapter (or may, loading adapters at run time): the switch is for
  the whole process, and would make that download fail.
* ``s3://`` / ``gs://``: with ``spec.cache.pvc`` the download Job syncs the prefix into the
  claim once; without, an init container copies it into each replica's own volume.
* ``spec.source.revision`` pins a Hugging Face commit, branch or tag: the download Job passes
  ``--revision`` and fills its own folder (``<repo>@<revision>``), so a new revision never
  overwrites the files running replicas read; without a claim vLLM gets ``--revision`` and
  ``--tokenizer-revision`` itself.
* The download is identified by a hash of what it fetches and where (``Download.digest``): the
  reconciler runs one Job per digest, so changing ``spec.source`` downloads again.
* ``spec.cache.tiktokenEncodingsUrl``: air-gapped clusters cannot fetch the harmony vocabulary
  at start (vllm #22525, silent empty ``tool_calls`` per dynamo #15155). An init container
  copies ``o200k_base.tiktoken`` and ``cl100k_base.tiktoken`` from that mirror into a volume and
  ``TIKTOKEN_ENCODINGS_BASE`` points there (troubleshooting in ``vllm-project/recipes``
  ``OpenAI/GPT-OSS.md``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from gptoss_operator import names
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.placement.adapters import RUNTIME_LOADING, plan_adapters
from gptoss_operator.placement.architectures import model_named

__all__ = ["Download", "WeightsPlan", "download_container", "plan_weights"]

MODELS_DIR = "/models"
MOUNTED_DIR = "/weights"
TIKTOKEN_DIR = "/tiktoken"
TIKTOKEN_FILES = ("o200k_base.tiktoken", "cl100k_base.tiktoken")
CLI_IMAGES = {
    "s3": "amazon/aws-cli:2.27.0",
    "gs": "gcr.io/google.com/cloudsdktool/google-cloud-cli:slim",
}


@dataclass(frozen=True)
class Download:
    """A one-off copy of the checkpoint into the weights claim."""

    image: str
    command: tuple[str, ...]
    secret_name: str | None

    def digest(self, claim: str) -> str:
        """8 hex digits naming this download into ``claim`` (the image is left out: an
        operator upgrade that changes it must not download again)."""
        text = json.dumps([list(self.command), self.secret_name, claim])
        return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class WeightsPlan:
    """What the vLLM pod mounts and serves, and what must run before it."""

    model_arg: str  # the positional argument of ``vllm serve``
    volumes: tuple[dict[str, Any], ...]
    mounts: tuple[dict[str, Any], ...]
    env: dict[str, str] = field(default_factory=dict)
    claim_name: str | None = None  # the claim the operator creates, if any
    download: Download | None = None
    init_containers: tuple[dict[str, Any], ...] = ()
    serve_args: tuple[str, ...] = ()  # more ``vllm serve`` flags (a pinned hub revision)
    # The name vLLM serves the weights under, its LoRA flags and the pod annotations that say
    # which adapters it loads (gptoss_operator.placement.adapters).
    served_model_name: str = ""
    lora_args: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


def _split(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.partition("://")
    return scheme, rest.strip("/")


def _tiktoken_init(url: str, image: str) -> dict[str, Any]:
    base = url.rstrip("/")
    script = "; ".join(
        f"urllib.request.urlretrieve('{base}/{f}', '{TIKTOKEN_DIR}/{f}')" for f in TIKTOKEN_FILES
    )
    return {
        "name": "tiktoken",
        "image": image,
        "command": ["python3", "-c", f"import urllib.request; {script}"],
        "volumeMounts": [{"name": "tiktoken", "mountPath": TIKTOKEN_DIR}],
    }


def _object_store_download(scheme: str, path: str, target: str, secret: str | None) -> Download:
    if scheme == "s3":
        command: tuple[str, ...] = (
            "aws",
            "s3",
            "sync",
            f"s3://{path}",
            target,
            "--only-show-errors",
        )
    else:
        command = ("gcloud", "storage", "rsync", "--recursive", f"gs://{path}", target)
    return Download(image=CLI_IMAGES[scheme], command=command, secret_name=secret)


def _hub_download(
    repo: str, target: str, revision: str | None, *, image: str, secret: str | None
) -> Download:
    command: tuple[str, ...] = (
        "hf", "download", repo, "--local-dir", target,
        "--exclude", "original/*", "--exclude", "metal/*",
    )  # fmt: skip
    if revision:
        command += ("--revision", revision)
    return Download(image=image, command=command, secret_name=secret)


def download_container(download: Download, *, mount: str) -> dict[str, Any]:
    """The container that copies ``download`` into the volume ``mount`` (init or Job)."""
    container: dict[str, Any] = {
        "name": "download",
        "image": download.image,
        "command": list(download.command),
        "volumeMounts": [{"name": mount, "mountPath": MODELS_DIR}],
    }
    if download.secret_name:
        container["envFrom"] = [{"secretRef": {"name": download.secret_name}}]
    return container


def _adapters_from_hub(spec: GptOssDeploymentSpec) -> bool:
    """Whether vLLM may have to download an adapter from Hugging Face: an ``hf://`` adapter, or
    run-time loading, which may load one later without a restart. ``HF_HUB_OFFLINE`` would make
    that download fail ("No adapter found": ``vllm/lora/worker_manager.py``)."""
    if spec.adapter_loading == RUNTIME_LOADING:
        return True
    return any(_split(adapter.uri)[0] == "hf" for adapter in spec.adapters or [])


def plan_weights(cr_name: str, spec: GptOssDeploymentSpec, *, image: str) -> WeightsPlan:
    """The weights plan for ``spec``; ``image`` is the vLLM image (it carries the ``hf`` CLI)."""
    model = model_named(spec.model)
    uri = spec.source.uri if spec.source and spec.source.uri else f"hf://{model.checkpoint}"
    scheme, path = _split(uri)
    secret = spec.source.secret_name if spec.source else None
    revision = spec.source.revision if spec.source else None
    claim = spec.cache.pvc if spec.cache else None
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: dict[str, str] = {}
    init: list[dict[str, Any]] = []
    plan_claim: str | None = None
    download: Download | None = None

    if scheme == "pvc":
        source_claim, _, sub = path.partition("/")
        volumes.append(
            {
                "name": "weights",
                "persistentVolumeClaim": {"claimName": source_claim, "readOnly": True},
            }
        )
        mounts.append({"name": "weights", "mountPath": MOUNTED_DIR, "readOnly": True})
        model_arg = f"{MOUNTED_DIR}/{sub}".rstrip("/")
    elif claim is not None:
        claim_name = claim.name or names.weights_claim_name(cr_name)
        plan_claim = claim_name if claim.create else None
        volumes.append({"name": "weights", "persistentVolumeClaim": {"claimName": claim_name}})
        mounts.append({"name": "weights", "mountPath": MODELS_DIR})
        target = f"{MODELS_DIR}/{scheme}/{path}" + (f"@{revision}" if revision else "")
        model_arg = target
        if scheme == "hf":
            download = _hub_download(path, target, revision, image=image, secret=secret)
        else:
            download = _object_store_download(scheme, path, target, secret)
    elif scheme == "hf":
        volumes.append({"name": "model-cache", "emptyDir": {}})
        mounts.append({"name": "model-cache", "mountPath": MODELS_DIR})
        env["HF_HOME"] = f"{MODELS_DIR}/huggingface"
        model_arg = path
    else:
        # No claim to fill once: each replica copies the prefix into its own volume first, the
        # way a storage initializer does; a claim (spec.cache.pvc) makes later starts faster.
        target = f"{MODELS_DIR}/{scheme}/{path}"
        volumes.append({"name": "model-cache", "emptyDir": {}})
        mounts.append({"name": "model-cache", "mountPath": MODELS_DIR})
        fetch = _object_store_download(scheme, path, target, secret)
        init.append(download_container(fetch, mount="model-cache"))
        model_arg = target

    # Weights on a volume need no hub, unless vLLM downloads hf:// adapters itself.
    if (scheme != "hf" or claim is not None) and not _adapters_from_hub(spec):
        env["HF_HUB_OFFLINE"] = "1"
    if spec.cache and spec.cache.tiktoken_encodings_url:
        volumes.append({"name": "tiktoken", "emptyDir": {}})
        mounts.append({"name": "tiktoken", "mountPath": TIKTOKEN_DIR, "readOnly": True})
        init.append(_tiktoken_init(spec.cache.tiktoken_encodings_url, image))
        env["TIKTOKEN_ENCODINGS_BASE"] = TIKTOKEN_DIR
    adapters = plan_adapters(cr_name, spec)
    return WeightsPlan(
        model_arg=model_arg,
        volumes=(*volumes, *adapters.volumes),
        mounts=(*mounts, *adapters.mounts),
        env={**env, **dict(adapters.env)},
        claim_name=plan_claim,
        download=download,
        init_containers=(*init, *adapters.init_containers),
        serve_args=(
            ("--revision", revision, "--tokenizer-revision", revision)
            if revision and scheme == "hf" and claim is None
            else ()
        ),
        served_model_name=adapters.served_model_name,
        lora_args=adapters.args,
        annotations=adapters.annotations,
    )
