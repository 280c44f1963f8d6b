"""The Gateway API Inference Extension's CRDs, from its Go module at a pinned version.

``sigs.k8s.io/gateway-api-inference-extension`` ships its CRDs in the module itself
(``config/crd/bases``). ``go mod download`` fetches the module through the Go module proxy into
a module cache under ``~/.cache/gptoss/gateway-api-inference-extension-<version>/`` (kept
between runs, keyed by the version); the local cluster's tests apply the InferencePool CRD from
there, as a cluster admin installs it from the project's release.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

__all__ = ["INFERENCE_EXTENSION_VERSION", "inference_pool_crd"]

INFERENCE_EXTENSION_VERSION = "v1.5.0"
MODULE = "sigs.k8s.io/gateway-api-inference-extension"
_POOL_CRD = "config/crd/bases/inference.networking.k8s.io_inferencepools.yaml"


def _cache_root() -> Path:
    base = os.environ.get("GPTOSS_CACHE_DIR") or str(Path.home() / ".cache" / "gptoss")
    return Path(base)


@functools.cache
def inference_pool_crd(version: str = INFERENCE_EXTENSION_VERSION) -> Path:
    """The path of the ``inferencepools.inference.networking.k8s.io`` CRD (v1) of ``version``,
    downloaded on first use (seconds).

    Raises CalledProcessError if ``go mod download`` fails (its reasons are on stderr)."""
    root = _cache_root() / f"gateway-api-inference-extension-{version}"
    env = {
        **os.environ,
        "GOMODCACHE": str(root / "mod"),
        "GOPATH": str(root / "gopath"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
    }
    found = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=root if root.exists() else None,
    )
    module_dir = Path(json.loads(found.stdout)["Dir"])
    crd = module_dir / _POOL_CRD
    if not crd.is_file():
        raise FileNotFoundError(f"{MODULE}@{version} has no {_POOL_CRD}")
    return crd
