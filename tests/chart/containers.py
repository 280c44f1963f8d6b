"""Run one container of a rendered (or stored) pod template with podman, as a kubelet would: its
image, command, env, volumes with their files and modes, user, groups, read-only root file system
and dropped capabilities (tests only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptoss_localkube.images import Podman, write_volume_files
from gptoss_localkube.net import free_ports
from gptoss_localkube.podspec import host_volumes, probe_url, run_args, volume_files


@dataclass(frozen=True)
class Running:
    """A running container: its podman name and its container spec."""

    name: str
    spec: Mapping[str, Any]
    publish: Mapping[int, int]

    def probe(self, which: str) -> str:
        """The loopback URL of the container's ``which`` probe (readinessProbe, ...)."""
        return probe_url(self.spec, which, self.publish)

    def url(self, container_port: int, path: str) -> str:
        port = self.publish.get(container_port, container_port)
        return f"http://127.0.0.1:{port}{path}"


@contextmanager
def pod_container(
    podman: Podman,
    pod: Mapping[str, Any],
    container: str,
    root: Path,
    *,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    fields: Mapping[str, str] | None = None,
    own_network: bool = True,
    service_account: Path | None = None,
    api_server: tuple[str, int] | None = None,
) -> Iterator[Running]:
    """Start ``container`` of the pod spec ``pod`` and remove it when the block ends. With
    ``own_network`` it has a network namespace of its own and each container port is published
    on a free loopback port; else it shares the host's. On an error inside the block, the
    container's log is added to the error."""
    (spec,) = [c for c in pod["containers"] if c["name"] == container]
    files = volume_files(pod, config_maps or {}, secrets or {})
    group = (pod.get("securityContext") or {}).get("fsGroup")
    dirs = write_volume_files(files, root / "volumes", group=group)
    name = f"gptoss-test-{container}-{uuid.uuid4().hex[:8]}"
    ports = [p["containerPort"] for p in spec.get("ports", [])]
    publish = dict(zip(ports, free_ports(len(ports)), strict=True)) if own_network else {}
    args = run_args(
        pod,
        spec,
        host_volumes(pod, dirs),
        name=name,
        fields=fields,
        publish=publish,
        service_account=service_account,
        api_server=api_server,
    )
    podman.run(args)
    try:
        yield Running(name, spec, publish)
    except BaseException as failed:
        failed.add_note(f"log of {name}:\n{podman.logs(name)[-4000:]}")
        raise
    finally:
        podman.remove(name)
