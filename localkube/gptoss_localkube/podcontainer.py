"""A pod's first container as a process runtime sees it: what it runs (``Container``, read from
the pod with the values of its environment), Kubernetes' ``$(VAR)`` expansion, the ``process``
runtime's command line, and the container's startup, readiness and liveness probes.

Pure functions of the pod as the API server returns it. A pod is a runtime's to run when it is
annotated ``localkube.gptoss.dev/runtime: <name>`` (``RUNTIME_ANNOTATION``), Running, has an IP
and is not being deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gptoss_localkube.probing import Kind, Probe

__all__ = [
    "RUNTIME_ANNOTATION",
    "Container",
    "RuntimeCommand",
    "container_of",
    "expand",
    "probes_of",
    "run_container_command",
]

RUNTIME_ANNOTATION = "localkube.gptoss.dev/runtime"


@dataclass(frozen=True)
class Container:
    """What a runtime needs to know to start a pod's container as a process."""

    namespace: str
    pod: str
    ip: str
    port: int
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # of the pod
    # terminationMessagePolicy FallbackToLogsOnError: a failed exit's log tail is its message
    message_from_log: bool = False
    node_labels: dict[str, str] = field(default_factory=dict)  # of the node it was scheduled to


RuntimeCommand = Callable[[Container], list[str]]


def container_of(pod: dict[str, Any]) -> Container | None:
    """The pod's first container, or None while the pod is not running (or going away)."""
    status, spec, meta = pod.get("status", {}), pod.get("spec", {}), pod["metadata"]
    ip = status.get("podIP")
    if not ip or status.get("phase") != "Running" or meta.get("deletionTimestamp"):
        return None
    main = spec["containers"][0]
    ports = [p["containerPort"] for p in main.get("ports", []) if "containerPort" in p]
    fields = {
        "status.podIP": ip,
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "spec.nodeName": spec.get("nodeName", ""),
    }
    env: dict[str, str] = {}
    for entry in main.get("env", []):
        field_path = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field_path in fields:
            env[entry["name"]] = fields[field_path]
        elif "value" in entry:
            env[entry["name"]] = expand(str(entry["value"]), env)
    return Container(
        namespace=meta["namespace"],
        pod=meta["name"],
        ip=ip,
        port=int(ports[0]) if ports else 8000,
        image=main.get("image", ""),
        command=tuple(main.get("command", [])),
        args=tuple(main.get("args", [])),
        env=env,
        annotations=dict(meta.get("annotations") or {}),
        labels=dict(meta.get("labels") or {}),
        message_from_log=main.get("terminationMessagePolicy") == "FallbackToLogsOnError",
    )


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def log_tail_message(log: str) -> str:
    """A failed container's termination message under ``FallbackToLogsOnError``: the end of its
    log, at most 80 lines and 2048 bytes, whichever is less (the kubelet's limits,
    ``core/v1`` ``TerminationMessageFallbackToLogsOnError``)."""
    tail = "\n".join(log.splitlines()[-80:]).encode()[-2048:]
    return tail.decode(errors="ignore")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values (``$$`` escapes;
    references to undefined variables stay as written)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def run_container_command(container: Container) -> list[str]:
    """The ``process`` runtime: the container's own command and args, run on this machine."""
    argv = [*container.command, *container.args]
    if not argv:
        raise ValueError(f"pod {container.namespace}/{container.pod} has no command to run")
    return [expand(arg, container.env) for arg in argv]


def probes_of(pod: dict[str, Any], port: int) -> dict[Kind, Probe]:
    """The probes the pod's first container declares (``port``: where a probe names none)."""
    main = pod["spec"]["containers"][0]
    found = {
        Kind.STARTUP: Probe.from_pod(main.get("startupProbe"), default_port=port),
        Kind.READINESS: Probe.from_pod(main.get("readinessProbe"), default_port=port),
        Kind.LIVENESS: Probe.from_pod(main.get("livenessProbe"), default_port=port),
    }
    return {kind: probe for kind, probe in found.items() if probe is not None}
