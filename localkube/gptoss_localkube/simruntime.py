"""The ``vllm-sim`` runtime: run a vLLM container of a fake node as the gptoss vLLM simulator.

The container keeps the exact command a real cluster runs (``vllm serve <model> --flags``); this
runtime reads the flags that shape serving (``--served-model-name``, ``--max-num-seqs``,
``--max-num-batched-tokens``, ``--max-model-len``, ``--port``) and starts
``python -m gptoss_sim vllm`` with the same limits, listening on the pod's IP. A pod annotation
``localkube.gptoss.dev/startup-seconds`` sets how long the simulated weights take to load
(default: the simulator's own, ~2 minutes as for gpt-oss-120b on an H100).
"""

from __future__ import annotations

import sys

from gptoss_localkube.runtime import Container

__all__ = ["STARTUP_ANNOTATION", "vllm_sim_command"]

STARTUP_ANNOTATION = "localkube.gptoss.dev/startup-seconds"
_PASSED = {
    "--max-num-seqs": "--max-num-seqs",
    "--max-num-batched-tokens": "--max-num-batched-tokens",
    "--max-model-len": "--max-model-len",
}


def _flags(args: tuple[str, ...]) -> dict[str, str]:
    """``--flag value`` and ``--flag=value`` pairs of a vLLM command line (last one wins)."""
    found: dict[str, str] = {}
    items = list(args)
    for i, item in enumerate(items):
        if not item.startswith("--"):
            continue
        if "=" in item:
            key, value = item.split("=", 1)
            found[key] = value
        elif i + 1 < len(items) and not items[i + 1].startswith("--"):
            found[item] = items[i + 1]
    return found


def vllm_sim_command(container: Container) -> list[str]:
    argv = [*container.command, *container.args]
    flags = _flags(tuple(argv))
    positional = [a for a in container.args if not a.startswith("-")]
    model = flags.get("--served-model-name") or (positional[0] if positional else "gpt-oss-120b")
    command = [
        sys.executable,
        "-m",
        "gptoss_sim",
        "vllm",
        "--host",
        container.ip,
        "--port",
        flags.get("--port", str(container.port)),
        "--model",
        model,
    ]
    for flag, sim_flag in _PASSED.items():
        if flag in flags:
            command += [sim_flag, flags[flag]]
    if "--max-model-len" in flags:
        # vLLM refuses to start unless the KV cache holds one full-length sequence; the operator
        # sized the card for that, so give the simulator room for two.
        command += ["--kv-cache-tokens", str(max(49800, 2 * int(flags["--max-model-len"])))]
    startup = container.annotations.get(STARTUP_ANNOTATION)
    if startup is not None:
        command += ["--startup-seconds", startup]
    return command
