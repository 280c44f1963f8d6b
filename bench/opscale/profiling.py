"""Where the operator's CPU goes during resyncs: py-spy samples its threads, and the stacks are
folded into functions by inclusive share."""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["finish_profile", "py_spy", "short_frame", "start_profile"]


def py_spy() -> Path | None:
    """py-spy from PyPI in its own venv under ~/.cache/gptoss/tools (installed on demand)."""
    venv = Path.home() / ".cache" / "gptoss" / "tools" / "py-spy-venv"
    binary = venv / "bin" / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "py-spy==0.4.3"],
            check=True,
        )  # fmt: skip
    return binary


def start_profile(pid: int, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample every thread of the operator (100 Hz, idle stacks dropped) while resyncs run."""
    binary = py_spy()
    raw = Path(tempfile.mkdtemp(prefix="opscale-spy-")) / "operator.txt"
    seconds = int(args.resyncs * (args.resync + 10))
    proc = subprocess.Popen(
        [str(binary), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
         "--format", "raw", "--output", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, raw


def short_frame(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r" \([^()]*?(?:site-packages/|(?=gptoss_))", " (", frame)


def finish_profile(proc: subprocess.Popen[bytes], raw: Path) -> dict[str, Any]:
    """Where the sampled CPU went: functions by inclusive share, top 15."""
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C, not on SIGTERM
    proc.wait(timeout=60)
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    if raw.exists():
        for line in raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = {short_frame(f) for f in stack.split(";")}
            for frame in frames:
                inclusive[frame] += n
    top = [
        {"share": round(n / total, 3), "frame": frame}
        for frame, n in inclusive.most_common(40)
        if n / total < 0.999
    ][:15]
    return {"samples": total, "top_inclusive": top}
