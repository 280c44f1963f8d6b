"""The ``vllm-sim`` runtime: run a vLLM container of a fake node as the gptoss vLLM simulator.

The container keeps the exact command a real cluster runs (``vllm serve <model> --flags``), and
it runs through the simulator's own ``vllm`` executable (``gptoss_sim.vllm_shim``), which parses
it with vLLM's real flag list: a command line vLLM would refuse exits 2 with vLLM's message, as
the pod would. The simulator listens on the pod's IP (a last ``--host`` wins in vLLM's parser)
and is told which GPU it runs on from the labels of its node, as vLLM reads it from the driver,
so it picks vLLM's batch defaults for that card and divides that card's memory as vLLM would.
The checkpoint vLLM would read from the weights (a fine-tune's directory says nothing of it
here) is the one the pod's ``gptoss.dev/model`` label names. A pod annotation
``localkube.gptoss.dev/startup-seconds`` sets how long the simulated weights take to load
(default: the simulator's own, ~2 minutes as for gpt-oss-120b on an H100).
"""

from __future__ import annotations

import re
import sys

from gptoss_localkube.podcontainer import Container, expand

__all__ = ["MODEL_LABEL", "STARTUP_ANNOTATION", "gpu_env", "vllm_sim_command"]

STARTUP_ANNOTATION = "localkube.gptoss.dev/startup-seconds"
MODEL_LABEL = "gptoss.dev/model"  # the operator's label of a vLLM pod: its base model
_VRAM = re.compile(r"^(\d+(?:\.\d+)?)G$")


def gpu_env(labels: dict[str, str]) -> dict[str, str]:
    """The simulator's GPU from its node's labels (NVIDIA GPU Feature Discovery's product name
    has dashes for spaces and memory in MiB; AMD's labeller gives VRAM as ``192G``); nothing on
    a node without GPUs."""
    if "nvidia.com/gpu.product" in labels:
        name = labels["nvidia.com/gpu.product"].replace("-", " ")
        mib = float(labels.get("nvidia.com/gpu.memory", "0") or 0)
        return {"GPTOSS_SIM_GPU_NAME": name, "GPTOSS_SIM_GPU_MEMORY_GIB": f"{mib / 1024:.2f}"}
    if "amd.com/gpu.product-name" in labels:
        vram = _VRAM.match(labels.get("amd.com/gpu.vram", ""))
        env = {"GPTOSS_SIM_GPU_NAME": labels["amd.com/gpu.product-name"].replace("_", " ")}
        if vram is not None:
            env["GPTOSS_SIM_GPU_MEMORY_GIB"] = vram.group(1)
        return env
    return {}


def vllm_sim_command(container: Container) -> list[str]:
    """``vllm serve ...`` of the container, run by the simulator's ``vllm`` on the pod's IP."""
    argv = [expand(arg, container.env) for arg in (*container.command, *container.args)]
    if argv and argv[0].rsplit("/", 1)[-1] == "vllm":
        argv = argv[1:]
    env = gpu_env(container.node_labels)
    startup = container.annotations.get(STARTUP_ANNOTATION)
    if startup is not None:
        env["GPTOSS_SIM_STARTUP_SECONDS"] = startup
    if container.labels.get(MODEL_LABEL):
        env["GPTOSS_SIM_CHECKPOINT"] = container.labels[MODEL_LABEL]
    settings = [f"{key}={value}" for key, value in sorted(env.items())]
    shim = [sys.executable, "-m", "gptoss_sim.vllm_shim", *argv, "--host", container.ip]
    return ["/usr/bin/env", *settings, *shim] if settings else shim
