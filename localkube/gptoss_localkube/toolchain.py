"""Where the control-plane binaries, KWOK stages, kubectl and helm come from.

The binaries are built from the pinned Go modules by ``localkube/build.sh`` and kubectl/helm are
installed by ``localkube/install-kube-tools.sh``; both cache outside the work tree (by default
``~/.cache/gptoss``) and only do work when their pins changed. Their progress goes to stderr.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NodeToolchain", "Toolchain", "ensure_node_toolchain", "ensure_toolchain"]

LOCALKUBE_DIR = Path(__file__).resolve().parent.parent
STAGES_DIR = LOCALKUBE_DIR / "stages"


@dataclass(frozen=True)
class Toolchain:
    """Paths of everything needed to run and talk to a local cluster."""

    bin_dir: Path  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
    upstream_stages: Path  # KWOK's own stage files at the pinned version
    own_stages: Path  # gptoss' stage files (pod readiness with an optional delay)
    tools_dir: Path  # kubectl, helm
    build_time: str

    @property
    def kubectl(self) -> Path:
        return self.tools_dir / "kubectl"

    @property
    def helm(self) -> Path:
        return self.tools_dir / "helm"

    def stage_files(self) -> list[Path]:
        upstream = sorted(self.upstream_stages.glob("*.yaml"))
        return [*upstream, *sorted(self.own_stages.glob("*.yaml"))]


def _last_line(script: Path) -> Path:
    result = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def ensure_toolchain() -> Toolchain:
    """Build or find the binaries and tools; raises CalledProcessError if a step fails."""
    cache = _last_line(LOCALKUBE_DIR / "build.sh")
    tools = _last_line(LOCALKUBE_DIR / "install-kube-tools.sh")
    build_time = (cache / "build-time").read_text().strip()
    return Toolchain(cache / "bin", cache / "stages", STAGES_DIR, tools, build_time)


@dataclass(frozen=True)
class NodeToolchain:
    """What a real node runs: kubelet, kube-proxy and CoreDNS, the pause image, and the image
    of the chart's embedded store built here."""

    bin_dir: Path
    pause_image: str
    store_image: str


def ensure_node_toolchain() -> NodeToolchain:
    """Build or find the node's binaries and images (``localkube/build-node.sh`` and
    ``localkube/build-node-images.sh``; minutes the first time, cached after)."""
    cache = _last_line(LOCALKUBE_DIR / "build-node.sh")
    done = subprocess.run(
        ["bash", str(LOCALKUBE_DIR / "build-node-images.sh")],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    images = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    return NodeToolchain(cache / "bin", images["pause"], images["store"])
