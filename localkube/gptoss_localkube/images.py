"""The gptoss images, built here with podman, and running them.

``localkube/build-images.sh`` builds the operator, router and simulator images from
``docker/*.Dockerfile`` on a base made from Debian packages (no Docker engine, no registry) and
caches them under ``~/.cache/gptoss``; ``localkube/gptoss-podman`` is podman on that image store
with runc and the machine's limits. This module is the thin I/O seam over both: build or find the
images, write a pod's volume files, start a container, read its state and logs, remove it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Podman", "ensure_images", "write_volume_files"]

LOCALKUBE_DIR = Path(__file__).resolve().parent.parent
IMAGE_NAMES = ("operator", "router", "sim")


def ensure_images(names: Sequence[str] = IMAGE_NAMES) -> dict[str, str]:
    """Build what is missing (minutes the first time; progress on stderr) and return each
    image's reference, ``localhost/gptoss-<name>:<digest of its inputs>``."""
    done = subprocess.run(
        ["bash", str(LOCALKUBE_DIR / "build-images.sh"), *names],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    refs = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    missing = set(names) - set(refs)
    if missing:
        raise RuntimeError(f"build-images.sh printed no reference for {sorted(missing)}")
    return refs


def write_volume_files(
    files: Mapping[str, Mapping[str, tuple[str, int]]], root: Path, *, group: int | None
) -> dict[str, Path]:
    """Write each volume's files under ``root/<volume>`` with their modes, owned by root and
    ``group`` (the pod's fsGroup, as a kubelet does), and return volume name -> directory."""
    dirs: dict[str, Path] = {}
    for volume, entries in files.items():
        directory = root / volume
        directory.mkdir(parents=True)
        for relative, (content, mode) in entries.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)
            if group is not None:
                os.chown(path, 0, group)
        directory.chmod(0o755)
        dirs[volume] = directory
    return dirs


@dataclass(frozen=True)
class Podman:
    """``localkube/gptoss-podman``: podman on gptoss's own image store."""

    wrapper: Path = LOCALKUBE_DIR / "gptoss-podman"

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.wrapper), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 120) -> str:
        done = self(*args, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout

    def run(self, run_args: Sequence[str]) -> str:
        """Start a container (``run_args`` from :func:`podspec.run_args`); its id."""
        return self.ok("run", *run_args).strip()

    def state(self, name: str) -> dict[str, Any]:
        """The container's State (Running, ExitCode, ...)."""
        loaded: dict[str, Any] = json.loads(self.ok("inspect", "--format", "{{json .State}}", name))
        return loaded

    def address(self, name: str) -> str:
        """The container's IP address on podman's bridge network (other containers reach it)."""
        return self.ok("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).strip()

    def image_config(self, ref: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.ok("inspect", "--format", "{{json .Config}}", ref))
        return loaded

    def logs(self, name: str) -> str:
        done = self("logs", name)
        return done.stdout + done.stderr

    def exec(self, name: str, *command: str) -> subprocess.CompletedProcess[str]:
        return self("exec", name, *command)

    def remove(self, name: str) -> None:
        """Stop (SIGTERM, then SIGKILL after 10 s) and remove the container, if it exists."""
        self("rm", "--force", "--time", "10", name, timeout=60)
