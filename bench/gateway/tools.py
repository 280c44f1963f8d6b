"""The tools the gateway benchmark builds or installs once and caches under ~/.cache/gptoss: the
compiled load generator and fake upstream (``bench/gwload``) and LiteLLM's proxy."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .configs import REPO

__all__ = ["CACHE", "LITELLM_VERSION", "TOOLS", "ensure_gwload", "ensure_litellm"]

CACHE = Path(os.environ.get("GPTOSS_CACHE", str(Path.home() / ".cache" / "gptoss")))
TOOLS = CACHE / "tools"
GWLOAD_SRC = REPO / "bench" / "gwload" / "main.go"
LITELLM_VERSION = "1.108.5"


def ensure_gwload() -> Path:
    """The load generator, built once per version of its source."""
    digest = hashlib.sha256(GWLOAD_SRC.read_bytes()).hexdigest()[:12]
    binary = TOOLS / f"gwload-{digest}"
    if not binary.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": ""}
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(
                ["go", "build", "-trimpath", "-o", str(binary), str(GWLOAD_SRC)],
                check=True,
                cwd=work,
                env=env,
            )
    return binary


def ensure_litellm(version: str) -> Path:
    """LiteLLM's proxy CLI from PyPI, in a venv of its own (never in the project's)."""
    venv = CACHE / f"litellm-venv-{version}"
    cli = venv / "bin" / "litellm"
    if not cli.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"litellm[proxy]=={version}"],
            check=True,
        )  # fmt: skip
    return cli
