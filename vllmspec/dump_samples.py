"""The argument lists ``dump.py`` runs through vLLM's real parser, and how it records the answer.

Each sample keeps the exit code and what argparse printed (from ``usage:`` on; vLLM's own log lines
before it are dropped, and function reprs lose their memory address), or the exception vLLM raised,
or, when the parse succeeded, the destinations that differ from their defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from typing import Any

# Flag-name spellings and argument lists whose answers are recorded from the real parser.
SAMPLES: list[list[str]] = [
    [],
    ["openai/gpt-oss-120b"],
    [
        "/models/gpt-oss-120b",
        "--served-model-name",
        "openai/gpt-oss-120b",
        "--host",
        "0.0.0.0",  # noqa: S104 - a flag value, as the operator writes it
        "--port",
        "8000",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "131072",
        "--gpu-memory-utilization",
        "0.9",
        "--max-num-batched-tokens",
        "8192",
        "--no-enable-prefix-caching",
        "--max-cudagraph-capture-size",
        "2048",
        "--stream-interval",
        "20",
        "--max-num-seqs",
        "256",
        "--tool-call-parser",
        "openai",
        "--enable-auto-tool-choice",
        "--reasoning-parser",
        "openai_gptoss",
    ],
    [
        "m",
        "--attention-backend",
        "ROCM_AITER_UNIFIED_ATTN",
        "-cc.pass_config.fuse_rope_kvcache=True",
        "-cc.use_inductor_graph_partition=True",
        "--block-size=64",
    ],
    ["m", "--max-num-seq", "4"],
    ["m", "--max-num-seqx", "4"],
    ["m", "--max-n", "4"],
    ["m", "--no-such-flag"],
    ["m", "--no-such-flag=3", "--port", "8000"],
    ["m", "--max-num-seqs", "x"],
    ["m", "--max-num-seqs", "-5"],
    ["m", "--max-num-seqs", "4.0"],
    ["m", "--max_num_seqs", "4"],
    ["m", "--max_num_seqs=4"],
    ["m", "--kv-cache-dtype", "fp9"],
    ["m", "--kv-cache-dtype", "fp8"],
    ["m", "--dtype", "None"],
    ["m", "--quantization", "None"],
    ["m", "--quantization", "mxfp4"],
    ["m", "--enable-prefix-caching"],
    ["m", "--no-enable-prefix-caching"],
    ["m", "--enable-prefix-caching", "--no-enable-prefix-caching"],
    ["m", "--enable-prefix-caching=yes"],
    ["m", "--no_enable_prefix_caching"],
    ["m", "--enable-auto-tool-choice"],
    ["m", "--enable-auto-tool-choice=1"],
    ["m", "--block-size=64"],
    ["m", "--block-size", "7"],
    ["m", "--port"],
    ["m", "--port", "x"],
    ["m", "--port", "8000", "--port", "9000"],
    ["m", "-tp", "2"],
    ["m", "-tp=2"],
    ["m", "-tp2"],
    ["m", "extra"],
    ["--port", "8000", "m"],
    ["--model", "m", "--port", "8000"],
    ["--model=m"],
    ["m", "--model", "n"],
    ["--port", "8000"],
    ["--served-model-name", "x"],
    ["m", "--served-model-name", "a", "b"],
    ["m", "--gpu-memory-utilization", "0.9x"],
    ["m", "--max-model-len", "32k"],
    ["m", "--max-model-len", "32K"],
    ["m", "--max-model-len", "1.5K"],
    ["m", "--max-model-len", "auto"],
    ["m", "--max-model-len", "-1"],
    ["m", "--max-model-len", "x"],
    ["m", "--max-num-batched-tokens", "8k"],
    ["m", "--compilation-config", '{"cudagraph_mode": "FULL"}'],
    ["m", "--compilation-config", "3"],
    ["m", "--compilation-config", "{not json"],
    ["m", "--compilation-config", '{"no_such_key": 1}'],
    ["m", "-cc.no_such_key=1"],
    ["m", "--compilation-config", "[1]"],
    ["m", "--compilation-config.cudagraph_mode", "FULL"],
    ["m", "--compilation-config.cudagraph_capture_sizes+", "1,2,4"],
    ["m", "-O3"],
    ["m", "-O", "3"],
    ["m", "-O.mode=3"],
    ["m", "--hf-overrides", '{"a": 1}'],
    ["m", "--hf-overrides", "abc"],
    ["m", "--allowed-origins", '["*"]'],
    ["m", "--allowed-origins", "*"],
    ["m", "--api-key", "a", "--api-key", "b"],
    ["m", "--middleware", "a.b", "--middleware", "c.d"],
    ["m", "--lora-modules", "a=b", "c=d"],
    ["m", "--lora-modules", "{bad"],
    ["m", "--task", "embed"],
    ["m", "--tool-call-parser", "openai"],
    ["m", "--reasoning-parser", "nope"],
    ["m", "--attention-backend", "FLASH_ATTN"],
    ["m", "--attention-backend", "NOPE"],
    ["m", "--speculative-config", '{"method": "eagle3"}'],
    ["m", "--speculative-config", "None"],
    ["m", "--speculative-config.num_speculative_tokens", "3"],
    ["m", "--trust-remote-code"],
    ["m", "--seed", "None"],
    ["m", "--kv-cache-memory-bytes", "x"],
    ["m", "--kv-cache-memory-bytes", "None"],
    ["m", "--mm-processor-kwargs", "{bad"],
    ["m", "--override-generation-config", "{bad"],
    ["m", "--hf-overrides", "{bad"],
    ["m", "--moe-backend", "Flashinfer-Cutlass"],
    ["m", "--moe-backend", "nope"],
    ["m", "--max-num-seqs", "4", "--max-num-seqs", "x"],
    ["m", "--max-num-seqs=4=5"],
    ["m", "--port=", "8000"],
    ["m", "--enable-prefix-caching", "x"],
    ["-tp", "2", "m"],
    ["m", "n"],
    ["m", "--served_model_name", "a"],
    ["--served_model_name", "a"],
    ["--config", "x.yaml"],
    ["m", "--served-model-name", "-0.5"],
    ["m", "--served-model-name", "-0.5", "--port", "8000"],
    ["m", "--collect-detailed-traces", "None"],
    ["m", "--collect-detailed-traces", "all"],
    ["m", "--model"],
    ["m", "-cc.mode"],
    ["m", "--", "x"],
]


def run_sample(top: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    set_dests: dict[str, str] = {}
    error: str | None = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            namespace = top.parse_args(["serve", *argv])
        except SystemExit as stop:
            exit_code = stop.code if isinstance(stop.code, int) else 1
        except Exception as exc:  # vLLM raises plain exceptions for some misuse
            exit_code = 1
            error = f"{type(exc).__name__}: {exc}"
        else:
            serve = next(
                a for a in top._actions if isinstance(a, argparse._SubParsersAction)
            ).choices["serve"]
            defaults = {a.dest: a.default for a in serve._actions}
            for dest, value in sorted(vars(namespace).items()):
                if dest in defaults and value != defaults[dest]:
                    simple = value is None or isinstance(value, str | int | float | bool)
                    set_dests[dest] = repr(value) if simple else type(value).__name__
    sample: dict[str, Any] = {"argv": argv, "exit_code": exit_code}
    if exit_code == 2:
        # vLLM's logger may have written warnings first; argparse's own text starts at "usage:".
        text = stderr.getvalue()
        text = text[text.find("usage:") :] if "usage:" in text else text
        # vLLM's type helpers print the repr of a function, with its memory address.
        sample["stderr"] = re.sub(r" at 0x[0-9a-f]+>", ">", text)
    if error is not None:
        sample["exception"] = error
    if exit_code == 0:
        sample["set"] = set_dests
    return sample
