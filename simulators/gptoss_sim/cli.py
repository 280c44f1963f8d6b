"""``python -m gptoss_sim``: run one simulator on a host and port.

    python -m gptoss_sim vllm --host 127.1.1.1 --port 8000 [--model openai/gpt-oss-20b]
        [--startup-seconds 120] [--max-num-seqs 1024] [--kv-cache-tokens 49800] ...
    python -m gptoss_sim groq|fireworks|together|openai --port 9001 [--time-scale 1.0]
    ... [--fault "status=503,every=3"] [--fault "reset,after=30,until=60"]

Fault rules are described in ``gptoss_sim.faults``; they can also be changed while running
with ``PUT /_sim/faults`` (a JSON list of rule strings) or per request with ``x-sim-fault``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.errors import SimError
from gptoss_sim.faults import parse_rule
from gptoss_sim.providers.app import ProviderConfig, ProviderSim
from gptoss_sim.providers.profiles import PROFILES
from gptoss_sim.server import Simulator, serve
from gptoss_sim.vllm_app import VllmConfig, VllmSim

_CAPACITY_FLAGS = {
    "max_num_seqs": int,
    "max_num_batched_tokens": int,
    "kv_cache_tokens": int,
    "block_size": int,
    "max_model_len": int,
    "step_base_s": float,
    "step_per_seq_s": float,
    "prefill_token_s": float,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m gptoss_sim", description=__doc__.splitlines()[0])
    kinds = top.add_subparsers(dest="kind", required=True)
    for kind in ("vllm", *PROFILES):
        sub = kinds.add_parser(kind, help=f"simulate {kind}")
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        sub.add_argument("--fault", action="append", default=[], help="a fault rule (repeatable)")
        if kind == "vllm":
            sub.add_argument("--model", default=VllmConfig().model)
            sub.add_argument("--startup-seconds", type=float, default=CapacityParams().startup_s)
            sub.add_argument("--stream-interval", type=int, default=1)
            defaults = CapacityParams()
            for name, kind_of in _CAPACITY_FLAGS.items():
                flag = "--" + name.replace("_", "-")
                sub.add_argument(flag, type=kind_of, default=getattr(defaults, name))
        else:
            sub.add_argument("--time-scale", type=float, default=1.0)
    return top


def build(args: argparse.Namespace) -> Simulator:
    try:
        faults = tuple(parse_rule(text) for text in args.fault)
    except SimError as error:
        raise SystemExit(f"--fault: {error.message}") from None
    if args.kind == "vllm":
        names = {f.name for f in fields(CapacityParams)} & set(_CAPACITY_FLAGS)
        capacity = replace(
            CapacityParams(startup_s=args.startup_seconds),
            **{name: getattr(args, name) for name in names},
        )
        config = VllmConfig(
            model=args.model,
            capacity=capacity,
            stream_interval=args.stream_interval,
            faults=faults,
        )
        return VllmSim(config)
    profile = PROFILES[args.kind]
    return ProviderSim(ProviderConfig(profile, time_scale=args.time_scale, faults=faults))


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sim = build(args)
    print(f"{args.kind} simulator on http://{args.host}:{args.port}{sim.api_prefix}", flush=True)
    serve(sim, args.host, args.port)
