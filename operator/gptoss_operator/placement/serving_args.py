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

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.placement.gpus import product_named
from gptoss_vllmspec import PINNED_VERSION, UsageError, available_versions, load_cli

__all__ = ["check_serving_args", "max_num_seqs", "vllm_version_of"]

_TAG = re.compile(r":v?(\d+\.\d+\.\d+)(?:$|[-+@])")


def vllm_version_of(image: str) -> str | None:
    """The vLLM release an image reference names in its tag, if it names one."""
    match = _TAG.search(image)
    return match.group(1) if match else None


def check_serving_args(image: str, args: Sequence[str]) -> str | None:
    """None if vLLM of ``image`` accepts ``vllm serve <args>`` (or cannot be checked); else why
    not, in words that name the flag and what to change."""
    version = vllm_version_of(image)
    if version is None or version not in available_versions("cli"):
        return None
    cli = load_cli(version)
    try:
        cli.parse(list(args))
    except UsageError as error:
        flag = f" ({error.flag})" if error.flag else ""
        return (
            f"vLLM {version} would refuse to start{flag}: {error.prog}: error: {error}; "
            "fix or remove it in spec.serving.extraArgs (the rest of the command line comes "
            "from the operator's recipe and sizing)"
        )
    return None


def max_num_seqs(spec: GptOssDeploymentSpec) -> int:
    """How many sequences one replica runs at once: ``spec.serving.maxNumSeqs``, else a
    ``--max-num-seqs`` in ``extraArgs``, else vLLM's default for the GPU (256 on A100 and on
    cards under 70 GiB, 1024 on larger ones)."""
    if spec.serving.max_num_seqs is not None:
        return spec.serving.max_num_seqs
    try:
        given = load_cli(PINNED_VERSION).parse(["model", *(spec.serving.extra_args or [])])
    except UsageError:
        given = None
    value = given.get("--max-num-seqs") if given is not None else None
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return product_named(spec.gpu.product).vllm_default_max_num_seqs
