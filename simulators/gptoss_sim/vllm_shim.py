"""``vllm``: the simulator image's stand-in for vLLM's command line.

The operator runs ``vllm serve <model> --served-model-name NAME --port 8000 --max-model-len N
...``; in the simulator image that command starts the vLLM simulator with the flags that shape
serving, so a cluster without GPUs runs the exact Deployment a GPU cluster would.

The command line is checked against the real ``vllm serve`` flags of the pinned vLLM release
(``gptoss_vllmspec``): a flag vLLM does not know, or a value it would refuse, makes the shim
print vLLM's usage error and exit 2 as ``vllm serve`` does, so a typo in
``spec.serving.extraArgs`` crash-loops a simulated pod just as it would a real one. Flags vLLM
accepts but the simulator has no use for (parallelism, attention backends, compilation) are
ignored.

Environment (set by whoever runs the image without a GPU, e.g. the local cluster's runtime from
the node's GPU labels):

- ``GPTOSS_SIM_STARTUP_SECONDS``: how long the simulated weights take to load.
- ``GPTOSS_SIM_GPU_NAME`` / ``GPTOSS_SIM_GPU_MEMORY_GIB``: the GPU as the driver reports it
  (e.g. "NVIDIA H100 80GB HBM3", 79.6); vLLM's default ``--max-num-seqs`` and
  ``--max-num-batched-tokens`` depend on it (``gptoss_sim.gpu``), and with the checkpoint its
  KV cache: what ``--gpu-memory-utilization`` of that memory leaves after the weights, the
  runtime and the LoRA buffers, on each of ``--tensor-parallel-size`` GPUs
  (``gptoss_sim.memory``). A command line whose ``--max-model-len`` does not fit then exits
  with vLLM's error, as the pod would.
- ``GPTOSS_SIM_CHECKPOINT``: the checkpoint the weights are (``gpt-oss-120b`` or
  ``gpt-oss-20b``), as vLLM reads it from their ``config.json``; without it, the model
  argument's name (``openai/gpt-oss-20b``). Without a GPU or a known checkpoint the simulator
  gets room for two full-length sequences.
- vLLM's own ``VLLM_KEEP_ALIVE_ON_ENGINE_DEATH``, ``VLLM_SYSTEM_START_DATE``,
  ``VLLM_ENABLE_RESPONSES_API_STORE`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING`` reach the
  simulator unchanged (``gptoss_sim.cli``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence

from gptoss_sim import cli
from gptoss_sim.memory import checkpoint_named
from gptoss_vllmspec import Parsed, ParsedValue, ServeCli, UsageError, load_cli

__all__ = [
    "CHECKPOINT_ENV",
    "GPU_MEMORY_ENV",
    "GPU_NAME_ENV",
    "STARTUP_ENV",
    "UsageError",
    "main",
    "simulator_args",
]

STARTUP_ENV = "GPTOSS_SIM_STARTUP_SECONDS"
GPU_NAME_ENV = "GPTOSS_SIM_GPU_NAME"
GPU_MEMORY_ENV = "GPTOSS_SIM_GPU_MEMORY_GIB"
CHECKPOINT_ENV = "GPTOSS_SIM_CHECKPOINT"
# Flags passed on to the simulator as they are, with their value.
_VALUED = (
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--max-model-len",
    "--block-size",
    "--stream-interval",
    "--max-loras",
    "--max-lora-rank",
)
# Without a GPU or a known checkpoint there is no memory to divide: the simulator gets room for
# two full-length sequences (and at least a 120b H100's worth), so that it starts.
_MIN_KV_CACHE_TOKENS = 49800
# The memory flags passed on as they are when the GPU and the checkpoint are known.
_MEMORY_VALUED = (
    "--tensor-parallel-size",
    "--gpu-memory-utilization",
    "--kv-cache-memory-bytes",
    "--num-gpu-blocks-override",
)


@functools.cache
def _serve_cli() -> ServeCli:
    """``vllm serve``'s own flags, as the pinned vLLM release defines them."""
    return load_cli()


def _text(value: ParsedValue | None) -> str | None:
    return value if isinstance(value, str) and value else None


def _names(value: ParsedValue | None) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    return [value] if isinstance(value, str) else list(value)


def _memory_args(parsed: Parsed, env: Mapping[str, str], model: str) -> list[str]:
    """How the simulator sizes its KV cache: from the GPU's memory, as vLLM divides it
    (``gptoss_sim.memory``), when the GPU and the checkpoint are known; else room for two
    full-length sequences."""
    known = checkpoint_named(env.get(CHECKPOINT_ENV, "")) or checkpoint_named(model)
    if known is not None and env.get(GPU_MEMORY_ENV):
        args = ["--checkpoint", known.name]
        for flag in _MEMORY_VALUED:
            value = _text(parsed.get(flag))
            if value is not None:
                args += [flag, value]
        dtype = _text(parsed.get("--kv-cache-dtype")) or "auto"
        args += ["--kv-cache-dtype-bytes", "1" if dtype.startswith("fp8") else "2"]
        return args
    max_model_len = _text(parsed.get("--max-model-len"))
    if max_model_len is None:
        return []
    return ["--kv-cache-tokens", str(max(_MIN_KV_CACHE_TOKENS, 2 * int(max_model_len)))]


def simulator_args(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``python -m gptoss_sim`` arguments for a ``vllm`` command line ``argv``.

    Raises ``UsageError`` where vLLM would refuse the command line (an unknown or misspelt
    flag, a bad value), and for anything but ``vllm serve <model>``.
    """
    if not argv or argv[0] != "serve":
        raise UsageError("the simulator image runs only `vllm serve <model> ...`", prog="vllm")
    parsed = _serve_cli().parse(list(argv[1:]))
    path = parsed.model or ""
    names = _names(parsed.get("--served-model-name")) or ([path] if path else [])
    if not names:
        # vLLM would serve its default model; the simulator serves gpt-oss only.
        raise UsageError("no model given: the simulator serves gpt-oss only", prog="vllm serve")
    args = ["vllm", "--model", names[0]]
    if names[1:]:
        args += ["--served-model-name", *names[1:]]
    args += ["--host", _text(parsed.get("--host")) or "0.0.0.0"]  # noqa: S104
    args += ["--port", _text(parsed.get("--port")) or "8000"]
    for flag in _VALUED:
        value = _text(parsed.get(flag))
        if value is not None:
            args += [flag, value]
    if parsed.get("--enable-lora") is True:
        args.append("--enable-lora")
    modules = _names(parsed.get("--lora-modules"))
    if modules:
        args += ["--lora-modules", *modules]
    if parsed.get("--enable-prompt-tokens-details") is True:
        args.append("--enable-prompt-tokens-details")
    caching = parsed.get("--enable-prefix-caching")
    if isinstance(caching, bool):
        args.append("--enable-prefix-caching" if caching else "--no-enable-prefix-caching")
    if path:
        args += ["--model-path", path]
    # The parsers exactly as given: absent means off on vLLM.
    for flag in ("--tool-call-parser", "--reasoning-parser"):
        args.append(f"{flag}={_text(parsed.get(flag)) or ''}")
    auto = parsed.get("--enable-auto-tool-choice") is True
    args.append("--enable-auto-tool-choice" if auto else "--no-enable-auto-tool-choice")
    args += _memory_args(parsed, env, path or names[0])
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
        # What vLLM's argparse prints, and its exit status (2; 1 for the few refusals vLLM
        # raises before argparse runs).
        sys.stderr.write(_serve_cli().usage_error_text(error))
        raise SystemExit(error.exit_code) from None
    cli.main(args)


if __name__ == "__main__":
    main()
