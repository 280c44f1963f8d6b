"""``vllm``: the simulator image's stand-in for vLLM's command line.

The operator runs ``vllm serve <model> --served-model-name NAME --port 8000 --max-model-len N
...``; in the simulator image that command starts the vLLM simulator with the limits that shape
serving, so a cluster without GPUs runs the exact Deployment a GPU cluster would. Flags the
simulator has no use for (parallelism, attention backends, parsers) are accepted and ignored.
``GPTOSS_SIM_STARTUP_SECONDS`` sets how long the simulated weights take to load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from gptoss_sim import cli

__all__ = ["STARTUP_ENV", "main", "simulator_args"]

STARTUP_ENV = "GPTOSS_SIM_STARTUP_SECONDS"
_PASSED = ("--host", "--port", "--max-num-seqs", "--max-num-batched-tokens", "--max-model-len")
# vLLM refuses to start unless the KV cache holds one full-length sequence; the operator sized
# the card for that, so the simulator gets room for two (and at least a 120b H100's worth).
_MIN_KV_CACHE_TOKENS = 49800


class UsageError(ValueError):
    """The command line is not one ``vllm serve`` accepts."""


def _flags(args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments, and ``--flag value`` / ``--flag=value`` pairs (last one wins)."""
    positional: list[str] = []
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        item = args[i]
        if item.startswith("--"):
            key, eq, value = item.partition("=")
            if eq:
                flags[key] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                flags[key] = args[i + 1]
                i += 1
            else:
                flags[key] = ""
        else:
            positional.append(item)
        i += 1
    return positional, flags


def simulator_args(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``python -m gptoss_sim`` arguments for a ``vllm`` command line ``argv``."""
    if not argv or argv[0] != "serve":
        raise UsageError("usage: vllm serve <model> [--served-model-name NAME] [--port N] ...")
    positional, flags = _flags(argv[1:])
    model = flags.get("--served-model-name") or flags.get("--model")
    model = model or (positional[0] if positional else "")
    if not model:
        raise UsageError("vllm serve: no model given")
    args = ["vllm", "--model", model, "--host", flags.get("--host") or "0.0.0.0"]  # noqa: S104
    args += ["--port", flags.get("--port") or "8000"]
    for flag in _PASSED[2:]:
        if flags.get(flag):
            args += [flag, flags[flag]]
    if flags.get("--max-model-len"):
        tokens = max(_MIN_KV_CACHE_TOKENS, 2 * int(flags["--max-model-len"]))
        args += ["--kv-cache-tokens", str(tokens)]
    if env.get(STARTUP_ENV):
        args += ["--startup-seconds", env[STARTUP_ENV]]
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
