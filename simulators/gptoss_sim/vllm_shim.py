"""``vllm``: the simulator image's stand-in for vLLM's command line.

The operator runs ``vllm serve <model> --served-model-name NAME --port 8000 --max-model-len N
...``; in the simulator image that command starts the vLLM simulator with the flags that shape
serving, so a cluster without GPUs runs the exact Deployment a GPU cluster would. Flags the
simulator has no use for (parallelism, attention backends, compilation) are accepted and ignored.

Environment (set by whoever runs the image without a GPU, e.g. the local cluster's runtime from
the node's GPU labels):

- ``GPTOSS_SIM_STARTUP_SECONDS``: how long the simulated weights take to load.
- ``GPTOSS_SIM_GPU_NAME`` / ``GPTOSS_SIM_GPU_MEMORY_GIB``: the GPU as the driver reports it
  (e.g. "NVIDIA H100 80GB HBM3", 79.6); vLLM's default ``--max-num-seqs`` and
  ``--max-num-batched-tokens`` depend on it (``gptoss_sim.gpu``).
- vLLM's own ``VLLM_KEEP_ALIVE_ON_ENGINE_DEATH`` and ``VLLM_SYSTEM_START_DATE`` reach the
  simulator unchanged (``gptoss_sim.cli``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from gptoss_sim import cli

__all__ = ["GPU_MEMORY_ENV", "GPU_NAME_ENV", "STARTUP_ENV", "UsageError", "main", "simulator_args"]

STARTUP_ENV = "GPTOSS_SIM_STARTUP_SECONDS"
GPU_NAME_ENV = "GPTOSS_SIM_GPU_NAME"
GPU_MEMORY_ENV = "GPTOSS_SIM_GPU_MEMORY_GIB"
# Flags passed on to the simulator as they are, with their value.
_VALUED = (
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--max-model-len",
    "--block-size",
    "--stream-interval",
)
# Boolean flags passed on when set.
_SWITCHES = ("--enable-prompt-tokens-details",)
# vLLM refuses to start unless the KV cache holds one full-length sequence; the operator sized
# the card for that, so the simulator gets room for two (and at least a 120b H100's worth).
_MIN_KV_CACHE_TOKENS = 49800

Value = str | bool | Sequence[str]


class UsageError(ValueError):
    """The command line is not one ``vllm serve`` accepts."""


def _flags(args: Sequence[str]) -> tuple[list[str], dict[str, Value]]:
    """Positional arguments, and flag values (last one wins; ``--served-model-name`` takes
    every value up to the next flag, as vLLM's ``nargs="+"``)."""
    positional: list[str] = []
    flags: dict[str, Value] = {}
    i = 0
    while i < len(args):
        item = args[i]
        if not item.startswith("--"):
            positional.append(item)
            i += 1
            continue
        key, eq, value = item.partition("=")
        if key == "--served-model-name" and not eq:
            names = []
            while i + 1 < len(args) and not args[i + 1].startswith("-"):
                names.append(args[i + 1])
                i += 1
            flags[key] = names
        elif eq:
            flags[key] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            flags[key] = args[i + 1]
            i += 1
        else:
            flags[key] = True
        i += 1
    return positional, flags


def _names(value: Value | None) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    return [value] if isinstance(value, str) else list(value)


def simulator_args(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``python -m gptoss_sim`` arguments for a ``vllm`` command line ``argv``."""
    if not argv or argv[0] != "serve":
        raise UsageError("usage: vllm serve <model> [--served-model-name NAME] [--port N] ...")
    positional, flags = _flags(argv[1:])
    path = flags.get("--model")
    path = path if isinstance(path, str) else (positional[0] if positional else "")
    names = _names(flags.get("--served-model-name")) or ([path] if path else [])
    if not names:
        raise UsageError("vllm serve: no model given")
    host = flags.get("--host")
    port = flags.get("--port")
    args = ["vllm", "--model", names[0]]
    if names[1:]:
        args += ["--served-model-name", *names[1:]]
    args += ["--host", host if isinstance(host, str) and host else "0.0.0.0"]  # noqa: S104
    args += ["--port", port if isinstance(port, str) and port else "8000"]
    for flag in _VALUED:
        value = flags.get(flag)
        if isinstance(value, str) and value:
            args += [flag, value]
    for flag in _SWITCHES:
        if flags.get(flag) is True:
            args.append(flag)
    if path:
        args += ["--model-path", path]
    # The parsers exactly as given: absent means off on vLLM.
    for flag in ("--tool-call-parser", "--reasoning-parser"):
        value = flags.get(flag)
        args.append(f"{flag}={value if isinstance(value, str) else ''}")
    auto = flags.get("--enable-auto-tool-choice") is True
    args.append("--enable-auto-tool-choice" if auto else "--no-enable-auto-tool-choice")
    if flags.get("--no-enable-prefix-caching") is True:
        args.append("--no-enable-prefix-caching")
    elif flags.get("--enable-prefix-caching") is True:
        args.append("--enable-prefix-caching")
    max_model_len = flags.get("--max-model-len")
    if isinstance(max_model_len, str) and max_model_len:
        tokens = max(_MIN_KV_CACHE_TOKENS, 2 * int(max_model_len))
        args += ["--kv-cache-tokens", str(tokens)]
    if env.get(STARTUP_ENV):
        args += ["--startup-seconds", env[STARTUP_ENV]]
    if env.get(GPU_NAME_ENV):
        args += ["--gpu-name", env[GPU_NAME_ENV]]
    if env.get(GPU_MEMORY_ENV):
        args += ["--gpu-memory-gib", env[GPU_MEMORY_ENV]]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the image's ``vllm`` executable."""
    try:
        args = simulator_args(list(sys.argv[1:] if argv is None else argv), os.environ)
    except UsageError as error:
        raise SystemExit(str(error)) from None
    cli.main(args)


if __name__ == "__main__":
    main()
