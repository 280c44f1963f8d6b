"""containerd of the real node, through ``ctr`` in the Kubernetes namespace (``k8s.io``): is it
answering, which images it holds, importing gptoss's images from the podman store (as
``kind load`` does), and removing containers a node left behind."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from gptoss_localkube.images import Podman
from gptoss_localkube.kubeapi import wait_until

__all__ = ["Containerd", "run_checked"]


def run_checked(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; with ``check``, a failure raises naming the command and its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if check and done.returncode != 0:
        command = " ".join(argv[:4])
        raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class Containerd:
    """The containerd listening on ``socket``."""

    socket: Path

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_checked("ctr", "--address", str(self.socket), "-n", "k8s.io", *args, check=check)

    def answering(self) -> bool:
        return self.ctr("version", check=False).returncode == 0

    def tasks(self) -> list[str]:
        """The running containers."""
        return self.ctr("tasks", "list", "--quiet", check=False).stdout.split()

    def import_images(self, images: Iterable[str], *, scratch: Path) -> None:
        """Copy each image from gptoss's podman store, unless containerd holds it already."""
        present = set(self.ctr("images", "list", "--quiet").stdout.split())
        podman = Podman()
        for image in dict.fromkeys(images):
            if image in present:
                continue
            archive = scratch / "image.tar"
            podman.ok(
                "save", "--format", "docker-archive", "--output", str(archive), image, timeout=600
            )
            try:
                self.ctr("images", "import", str(archive))
            finally:
                archive.unlink(missing_ok=True)

    def remove_all(self) -> None:
        """Kill and remove every container (left by a node that did not stop cleanly), and the
        network namespaces their sandboxes held."""
        for task in self.tasks():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
            wait_until(f"task {task} deleted", self._deleted(task), timeout=30)
        for container in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
            namespace = self._netns_of(container)
            self.ctr("containers", "delete", container, check=False)
            if namespace is not None:
                with contextlib.suppress(OSError):
                    subprocess.run(["umount", namespace], capture_output=True, check=False)
                    Path(namespace).unlink()

    def _deleted(self, task: str) -> Callable[[], bool]:
        def probe() -> bool:
            if self.ctr("tasks", "delete", task, check=False).returncode == 0:
                return True
            return task not in self.tasks()

        return probe

    def _netns_of(self, container: str) -> str | None:
        info = self.ctr("containers", "info", container, check=False)
        if info.returncode != 0:
            return None
        spec = yaml.safe_load(info.stdout).get("Spec") or {}
        for namespace in spec.get("linux", {}).get("namespaces", []):
            path = namespace.get("path", "")
            if namespace.get("type") == "network" and path.startswith("/var/run/netns/"):
                return str(path)
        return None
