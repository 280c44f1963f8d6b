"""Processes a benchmark starts: each pinned to one CPU so that the figures of two runs compare,
waited on until it listens, stopped when the run ends."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator

__all__ = ["free_port", "percentile", "pinned_process", "wait_for_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline_s: float = 20.0) -> None:
    """Return once something accepts connections on ``port``; raise after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def pinned_process(args: list[str], cpu: int, env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``args`` on CPU ``cpu`` (where the machine lets it pin), and yield its pid."""
    proc = subprocess.Popen(args, env=env)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(proc.pid, {cpu})
    try:
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
