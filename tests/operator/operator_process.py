"""The operator as users run it, a ``gptoss-operator`` process, for cluster tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def operator_running(
    kubeconfig: Path, log: Path, *args: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m gptoss_operator`` against ``kubeconfig`` until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gptoss_operator", "--kubeconfig", str(kubeconfig), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
