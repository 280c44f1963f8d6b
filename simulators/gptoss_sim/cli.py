"""``python -m gptoss_sim``: run one simulator on a host and port.

    python -m gptoss_sim vllm --host 127.1.1.1 --port 8000 [--model openai/gpt-oss-20b]
        [--startup-seconds 120] [--max-num-seqs N] [--kv-cache-tokens 49800] ...
        [--gpu-name "NVIDIA A100-SXM4-80GB" --gpu-memory-gib 80]
    python -m gptoss_sim groq|fireworks|together|openai --port 9001 [--time-scale 1.0]
                                                       [--ttft-sigma 0.55 --seed 1]
    ... [--fault "status=503,every=3"] [--fault "reset,after=30,until=60"]

Fault rules are described in ``gptoss_sim.faults``; they can also be changed while running
with ``PUT /_sim/faults`` (a JSON list of rule strings) or per request with ``x-sim-fault``.

The vLLM simulator takes vLLM's own flags for what shapes serving (``--max-num-seqs``,
``--max-num-batched-tokens``, ``--max-model-len``, ``--block-size``, ``--stream-interval``,
``--[no-]enable-prefix-caching``, ``--enable-prompt-tokens-details``, ``--served-model-name``,
``--enable-lora``, ``--max-loras``, ``--max-lora-rank``, ``--lora-modules``),
with vLLM's defaults; without ``--max-num-seqs`` / ``--max-num-batched-tokens`` it picks what
vLLM picks for the GPU it runs on (``gptoss_sim.gpu``). The parsers default to what the
operator passes (``--tool-call-parser openai --enable-auto-tool-choice --reasoning-parser
openai_gptoss``); ``--tool-call-parser ""``, ``--no-enable-auto-tool-choice`` and
``--reasoning-parser ""`` turn them off, as their absence does on vLLM (the ``vllm`` shim
says so explicitly). It reads vLLM's environment variables ``VLLM_KEEP_ALIVE_ON_ENGINE_DEATH``,
``VLLM_SYSTEM_START_DATE``, ``VLLM_ENABLE_RESPONSES_API_STORE``,
``VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.errors import SimError
from gptoss_sim.faults import parse_rule
from gptoss_sim.gpu import DEFAULT_GPU, Gpu, scheduler_limits
from gptoss_sim.lora import MAX_LORA_RANKS, RUNTIME_UPDATING_ENV, LoraConfig, parse_module
from gptoss_sim.memory import CHECKPOINTS, MemoryPlan, Request, checkpoint_named, refusal
from gptoss_sim.providers.app import ProviderConfig, ProviderSim
from gptoss_sim.providers.profiles import PROFILES
from gptoss_sim.server import Simulator, serve
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

# Flags the memory plan sizes when --checkpoint is given (None: not given).
_SIZED = ("kv_cache_tokens", "max_model_len")
_CONTEXT = 131072  # both checkpoints' max_position_embeddings
_CAPACITY_FLAGS = {
    "kv_cache_tokens": int,
    "block_size": int,
    "max_model_len": int,
    "step_base_s": float,
    "step_per_seq_s": float,
    "prefill_token_s": float,
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _vllm_flags(sub: argparse.ArgumentParser) -> None:
    defaults = CapacityParams()
    sub.add_argument(
        "--model",
        default=VllmConfig().model,
        help="the served model name (vLLM's first --served-model-name)",
    )
    sub.add_argument(
        "--served-model-name",
        nargs="+",
        default=[],
        help="more names the model answers to (vLLM's further --served-model-name values)",
    )
    sub.add_argument("--startup-seconds", type=float, default=defaults.startup_s)
    sub.add_argument("--stream-interval", type=_positive, default=1)
    sub.add_argument("--max-num-seqs", type=_positive, default=None)
    sub.add_argument("--max-num-batched-tokens", type=_positive, default=None)
    sub.add_argument(
        "--enable-prefix-caching",
        action=argparse.BooleanOptionalAction,
        default=defaults.enable_prefix_caching,
    )
    sub.add_argument("--enable-prompt-tokens-details", action="store_true")
    config = VllmConfig()
    sub.add_argument("--model-path", default=None, help="what vllm serve loads (/v1/models root)")
    sub.add_argument("--tool-call-parser", default=config.tool_call_parser)
    sub.add_argument(
        "--enable-auto-tool-choice",
        action=argparse.BooleanOptionalAction,
        default=config.enable_auto_tool_choice,
    )
    sub.add_argument("--reasoning-parser", default=config.reasoning_parser)
    lora = LoraConfig()
    sub.add_argument("--enable-lora", action=argparse.BooleanOptionalAction, default=False)
    sub.add_argument("--max-loras", type=_positive, default=lora.max_loras)
    sub.add_argument(
        "--max-lora-rank", type=int, choices=MAX_LORA_RANKS, default=lora.max_lora_rank
    )
    sub.add_argument(
        "--lora-modules", nargs="+", default=[], help="name=path or JSON (vLLM's LoRAModulePath)"
    )
    sub.add_argument("--gpu-name", default=DEFAULT_GPU.name, help="the GPU's driver name")
    sub.add_argument("--gpu-memory-gib", type=float, default=DEFAULT_GPU.memory_gib)
    _memory_flags(sub)
    for name, kind_of in _CAPACITY_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        default = None if name in _SIZED else getattr(defaults, name)
        sub.add_argument(flag, type=kind_of, default=default)


def _memory_flags(sub: argparse.ArgumentParser) -> None:
    """With ``--checkpoint`` the KV cache is what vLLM leaves of the GPU's memory
    (``gptoss_sim.memory``), and ``--max-model-len`` defaults to the checkpoint's context."""
    sub.add_argument(
        "--checkpoint",
        choices=[c.name for c in CHECKPOINTS],
        default=None,
        help="the checkpoint's layout and weights (vLLM reads them from config.json)",
    )
    sub.add_argument("--tensor-parallel-size", type=_positive, default=1)
    sub.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    sub.add_argument("--kv-cache-dtype-bytes", type=int, choices=(1, 2), default=2)
    sub.add_argument("--kv-cache-memory-bytes", type=_positive, default=None)
    sub.add_argument("--num-gpu-blocks-override", type=_positive, default=None)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m gptoss_sim", description=__doc__.splitlines()[0])
    kinds = top.add_subparsers(dest="kind", required=True)
    for kind in ("vllm", *PROFILES):
        sub = kinds.add_parser(kind, help=f"simulate {kind}")
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.add_argument("--fault", action="append", default=[], help="a fault rule (repeatable)")
        if kind == "vllm":
            _vllm_flags(sub)
        else:
            sub.add_argument("--time-scale", type=float, default=1.0)
            sub.add_argument(
                "--ttft-sigma",
                type=float,
                default=0.0,
                help="spread each request's time to first token log-normally (sigma)",
            )
            sub.add_argument("--seed", type=int, default=0, help="seed of the spread")
    return top


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    # vllm/envs.py reads these as bool(int(os.getenv(name, "0"))).
    return bool(int(env.get(name, "0") or "0"))


def _env_true(env: Mapping[str, str], name: str) -> bool:
    # vllm/envs.py reads VLLM_ALLOW_RUNTIME_LORA_UPDATING as
    # os.environ.get(name, "0").strip().lower() in ("1", "true"); anything else is off.
    return env.get(name, "0").strip().lower() in ("1", "true")


def _hub_offline(env: Mapping[str, str]) -> bool:
    # huggingface_hub/constants.py: HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) read by _is_true,
    # one of "1", "ON", "YES", "TRUE" in any case.
    value = env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in ("1", "ON", "YES", "TRUE")


def _max_model_len(args: argparse.Namespace) -> int:
    if args.max_model_len is not None:
        return int(args.max_model_len)
    return _CONTEXT if args.checkpoint else CapacityParams().max_model_len


def _capacity(args: argparse.Namespace, gpu: Gpu, seqs: int, batched: int) -> CapacityParams:
    """The engine's limits; with ``--checkpoint`` (and no ``--kv-cache-tokens``) its KV cache is
    what vLLM leaves of the GPU's memory, and a ``ValueError`` in vLLM's words where vLLM would
    not start."""
    max_model_len = _max_model_len(args)
    limits: dict[str, Any] = {
        name: getattr(args, name) for name in _CAPACITY_FLAGS if name not in _SIZED
    }
    limits.update(
        startup_s=args.startup_seconds,
        max_num_seqs=seqs,
        max_num_batched_tokens=batched,
        enable_prefix_caching=args.enable_prefix_caching,
        max_model_len=max_model_len,
    )
    if args.checkpoint is None or args.kv_cache_tokens is not None:
        tokens = args.kv_cache_tokens or CapacityParams().kv_cache_tokens
        return CapacityParams(kv_cache_tokens=tokens, **limits)
    plan = MemoryPlan(
        checkpoint=checkpoint_named(args.checkpoint) or CHECKPOINTS[0],
        gpu_memory_gib=gpu.memory_gib,
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        kv_cache_dtype_bytes=args.kv_cache_dtype_bytes,
        kv_cache_memory_bytes=args.kv_cache_memory_bytes,
        num_gpu_blocks_override=args.num_gpu_blocks_override,
        lora=(args.max_loras, args.max_lora_rank) if args.enable_lora else None,
    )
    refused = refusal(plan, Request(max_model_len, args.block_size, batched))
    if refused is not None:
        raise ValueError(refused)
    return CapacityParams(kv_cache_tokens=plan.kv_cache_tokens(args.block_size), **limits)


def vllm_config(args: argparse.Namespace, env: Mapping[str, str]) -> VllmConfig:
    """The simulator's configuration from its command line and environment."""
    gpu = Gpu(args.gpu_name, args.gpu_memory_gib)
    seqs, batched = scheduler_limits(
        gpu, args.max_num_seqs, args.max_num_batched_tokens, _max_model_len(args)
    )
    capacity = _capacity(args, gpu, seqs, batched)
    lora = LoraConfig(
        enabled=args.enable_lora,
        max_loras=args.max_loras,
        max_lora_rank=args.max_lora_rank,
        modules=tuple(parse_module(text) for text in args.lora_modules),
        runtime_updating=_env_true(env, RUNTIME_UPDATING_ENV),
        hub_offline=_hub_offline(env),
    )
    return VllmConfig(
        model=args.model,
        lora=lora,
        aliases=tuple(n for n in args.served_model_name if n != args.model),
        capacity=capacity,
        stream_interval=args.stream_interval,
        keep_alive_on_engine_death=_env_flag(env, "VLLM_KEEP_ALIVE_ON_ENGINE_DEATH"),
        system_start_date=env.get("VLLM_SYSTEM_START_DATE") or None,
        enable_prompt_tokens_details=args.enable_prompt_tokens_details,
        responses_store=_env_flag(env, "VLLM_ENABLE_RESPONSES_API_STORE"),
        harmony_system_instructions=_env_flag(env, "VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS"),
        model_path=args.model_path,
        tool_call_parser=args.tool_call_parser or None,
        enable_auto_tool_choice=args.enable_auto_tool_choice,
        reasoning_parser=args.reasoning_parser or None,
    )


def build(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Simulator:
    try:
        faults = tuple(parse_rule(text) for text in args.fault)
    except SimError as error:
        raise SystemExit(f"--fault: {error.message}") from None
    if args.kind == "vllm":
        try:
            config = vllm_config(args, os.environ if env is None else env)
        except ValueError as error:
            # vLLM refuses to start on a configuration it cannot serve.
            raise SystemExit(f"vllm: {error}") from None
        return VllmSim(replace(config, faults=faults))
    profile = PROFILES[args.kind]
    return ProviderSim(
        ProviderConfig(
            profile,
            time_scale=args.time_scale,
            faults=faults,
            ttft_sigma=args.ttft_sigma,
            seed=args.seed,
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sim = build(args)
    print(f"{args.kind} simulator on http://{args.host}:{args.port}{sim.api_prefix}", flush=True)
    serve(sim, args.host, args.port)
