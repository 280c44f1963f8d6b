"""One run of the compiled load generator (``bench/gwload``, ``load`` mode) against a port,
pinned to the client's CPU; its figures as JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .configs import CLIENT_CPU, KEY, MODEL

__all__ = ["load"]


def load(
    gwload: Path,
    port: int,
    *,
    concurrency: int,
    stream: bool,
    seconds: float,
    warmup: float,
    rate: float = 0.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    argv = [
        "taskset", "-c", str(CLIENT_CPU), str(gwload), "load",
        "-url", f"http://127.0.0.1:{port}/v1/chat/completions",
        "-c", str(concurrency), "-d", f"{seconds}s", "-warmup", f"{warmup}s",
        "-key", KEY, "-model", MODEL, "-rate", str(rate), "-timeout", f"{timeout}s",
    ]  # fmt: skip
    if stream:
        argv.append("-stream")
    done = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=warmup + seconds + timeout + 60
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result
