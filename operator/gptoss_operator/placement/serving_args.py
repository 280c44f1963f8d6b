"""Check a replica's ``vllm serve`` command line against vLLM's own parser, before any pod runs.

vLLM refuses an unknown flag or a bad choice by exiting 2 at start-up: the pod crash-loops and
the GPU it holds does nothing. The operator checks the final argument list (recipe, sizing,
``spec.serving.extraArgs``) against vLLM's flags as data (``gptoss_vllmspec``, dumped from the
parser of the vLLM release the image runs), and refuses to build a Deployment that would fail.

The vLLM release is read from the image tag (``vllm/vllm-openai:v0.17.0``). An image whose release
has no committed data (a custom build, a digest, a newer release) is not checked: refusing a
command line the real binary might accept would be a wrong action; the pod's own exit is then the
check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gptoss_operator import names
from gptoss_operator.api.redaction import redacted
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.recipes import AS_RECIPE, KvCacheArgs
from gptoss_vllmspec import PINNED_VERSION, Parsed, UsageError, available_versions, load_cli

__all__ = [
    "check_serving_args",
    "kv_cache_args",
    "max_num_seqs",
    "sizing_overrides",
    "step_too_small",
    "vllm_version_of",
]

_TAG = re.compile(r":v?(\d+\.\d+\.\d+)(?:$|[-+@])")
# Flags the operator sizes from the spec. In extraArgs, which come last, vLLM would take them
# over the sized ones (argparse keeps the last), and the replica would run on memory the sizing
# never checked: the field to set instead.
_SIZED_BY = {
    "--tensor-parallel-size": "spec.gpu.count",
    "--max-model-len": "spec.serving.maxModelLen",
    "--gpu-memory-utilization": "spec.serving.gpuMemoryUtilization",
    "--max-num-batched-tokens": "spec.serving.maxNumBatchedTokens",
    "--max-loras": "spec.serving.maxLoras",
    "--max-lora-rank": "spec.serving.maxLoraRank",
    # One replica is one tensor-parallel group on spec.gpu.count GPUs: pipeline or data
    # parallelism would need more GPUs than its pod asks for, and other memory than was sized.
    "--pipeline-parallel-size": "spec.gpu.count (the GPUs of one replica) or spec.replicas",
    "--data-parallel-size": "spec.gpu.count (the GPUs of one replica) or spec.replicas",
    "--data-parallel-size-local": "spec.gpu.count (the GPUs of one replica) or spec.replicas",
}
# Flags that set the KV cache's size themselves, which the sizing cannot check.
_CACHE_SIZED = ("--kv-cache-memory-bytes", "--num-gpu-blocks-override")
# Flags the operator sets because the rest of the cluster depends on them: the probes, the
# Service and the router reach vLLM over plain HTTP at the pod's IP on port 8000, without a
# key, and ask for the model by the name in status.servedModelName. Taken over from
# extraArgs, the pod would never turn Ready (and be restarted past its start-up budget), or
# answer every request 401 or 404.
_REACHED = (
    f"the probes, the Service and the router reach vLLM over plain HTTP at the pod's IP on "
    f"port {names.VLLM_PORT}; remove it"
)
_WIRED = {
    "--host": _REACHED,
    "--port": _REACHED,
    "--uds": _REACHED,
    "--ssl-keyfile": _REACHED,
    "--ssl-certfile": _REACHED,
    "--api-key": "the router calls vLLM without a key (its own app keys guard the endpoint); "
    "remove it",
    "--served-model-name": "the router asks for the model by the name in "
    "status.servedModelName; set spec.servedModelName instead",
}


def vllm_version_of(image: str) -> str | None:
    """The vLLM release an image reference names in its tag, if it names one."""
    match = _TAG.search(image)
    return match.group(1) if match else None


def check_serving_args(image: str, args: Sequence[str]) -> str | None:
    """None if vLLM of ``image`` accepts ``vllm serve <args>`` (or cannot be checked); else why
    not, in words that name the flag and what to change, with no credential it quotes."""
    version = vllm_version_of(image)
    if version is None or version not in available_versions("cli"):
        return None
    cli = load_cli(version)
    try:
        cli.parse(list(args))
    except UsageError as error:
        flag = f" ({error.flag})" if error.flag else ""
        # The parser quotes the arguments it refuses, and extraArgs may carry an API key.
        return redacted(
            f"vLLM {version} would refuse to start{flag}: {error.prog}: error: {error}; "
            "fix or remove it in spec.serving.extraArgs (the rest of the command line comes "
            "from the operator's recipe and sizing)"
        )
    return None


def sizing_overrides(spec: GptOssDeploymentSpec) -> str | None:
    """Why ``spec.serving.extraArgs`` may not carry what it does, if it sets a flag the
    operator sizes or wires the pod with (in any spelling vLLM accepts: ``-tp 2``,
    ``--max_model_len=8192``)."""
    given = _extra_args(spec)
    if given is None:
        return None
    for flag, field in _SIZED_BY.items():
        if given.get(flag) is not None:
            return redacted(
                f"spec.serving.extraArgs sets {flag} {given.get(flag)}, which would replace the "
                f"operator's sizing that checked the replica fits its GPUs; set {field} instead"
            )
    for flag, instead in _WIRED.items():
        if given.get(flag) is not None:
            return f"spec.serving.extraArgs sets {flag}, but {instead}"  # no value: a key
    for flag in _CACHE_SIZED:
        if given.get(flag) is not None:
            return redacted(
                f"spec.serving.extraArgs sets {flag} {given.get(flag)}, which sizes the KV cache "
                "past the operator's check that one full-length request fits; remove it "
                "(spec.serving.gpuMemoryUtilization sets how much memory vLLM takes)"
            )
    return None


def step_too_small(spec: GptOssDeploymentSpec, max_num_batched_tokens: int) -> str | None:
    """Why vLLM would refuse to start with ``max_num_batched_tokens`` (as sized) per scheduler
    step: below the sequences the spec asks it to run at once (``maxNumSeqs``, or
    ``--max-num-seqs`` in ``extraArgs``); None if it fits or the spec leaves that to vLLM."""
    given = _extra_args(spec)
    extra = given.get("--max-num-seqs") if given is not None else None
    seqs = spec.serving.max_num_seqs
    if seqs is None and isinstance(extra, str) and extra.isdigit():
        seqs = int(extra)
    if seqs is None or max_num_batched_tokens >= seqs:
        return None
    return (
        f"spec.serving.maxNumBatchedTokens {max_num_batched_tokens} is below the {seqs} "
        "sequences vLLM is asked to run at once (spec.serving.maxNumSeqs or --max-num-seqs): "
        "vLLM refuses to start when a scheduler step cannot hold a token of every sequence; "
        "raise maxNumBatchedTokens or lower maxNumSeqs"
    )


def _extra_args(spec: GptOssDeploymentSpec) -> Parsed | None:
    """``extraArgs`` as the vLLM of the spec's image parses them (the pinned one's parser when
    the image's version is not known here); None when it refuses them: that refusal is
    ``check_serving_args``'s to report. Parsed by an older vLLM, a flag only a newer one has
    would hide every other flag from the checks that read them."""
    image = spec.serving.image
    version = vllm_version_of(image) if image else None
    if version is None or version not in available_versions("cli"):
        version = PINNED_VERSION
    try:
        return load_cli(version).parse(["model", *(spec.serving.extra_args or [])])
    except UsageError:
        return None


def max_num_seqs(spec: GptOssDeploymentSpec) -> int:
    """How many sequences one replica runs at once: ``spec.serving.maxNumSeqs``, else a
    ``--max-num-seqs`` in ``extraArgs``, else vLLM's default for the GPU (256 on A100 and on
    cards under 70 GiB, 1024 on larger ones)."""
    if spec.serving.max_num_seqs is not None:
        return spec.serving.max_num_seqs
    given = _extra_args(spec)
    value = given.get("--max-num-seqs") if given is not None else None
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return product_named(spec.gpu.product).vllm_default_max_num_seqs


def kv_cache_args(spec: GptOssDeploymentSpec) -> KvCacheArgs:
    """The KV cache layout ``extraArgs`` choose (``--kv-cache-dtype``, ``--block-size``), which
    vLLM takes over the recipe's and the sizing must count."""
    given = _extra_args(spec)
    if given is None:
        return AS_RECIPE
    dtype = given.get("--kv-cache-dtype")
    block_size = given.get("--block-size")
    return KvCacheArgs(
        dtype=dtype if isinstance(dtype, str) and dtype else None,
        block_size=int(block_size)
        if isinstance(block_size, str) and block_size.isdigit()
        else None,
    )
