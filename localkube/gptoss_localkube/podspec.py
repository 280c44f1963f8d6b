"""Turn a rendered pod's container into a ``podman run`` command line, as a kubelet would run it.

Pure functions: the caller renders the chart, writes each volume's files to a host directory and
passes them in. What a kubelet enforces is passed on, never relaxed: the user and groups, a
read-only root file system with no writable tmpfs of podman's own (only the pod's volumes are
writable), dropped capabilities, no privilege escalation, the command and args with Kubernetes'
meaning (``command`` replaces the image's ENTRYPOINT, ``args`` its CMD), environment from values
and from the pod's own fields, and memory and CPU limits. A field this translation does not know
is refused with its name rather than silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "HostVolume",
    "UnsupportedField",
    "host_volumes",
    "probe_url",
    "run_args",
    "volume_files",
]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

_HANDLED_CONTAINER_KEYS = frozenset(
    {
        "name",
        "image",
        "imagePullPolicy",
        "command",
        "args",
        "env",
        "ports",
        "resources",
        "securityContext",
        "volumeMounts",
        "workingDir",
        "readinessProbe",
        "livenessProbe",
        "startupProbe",
        "lifecycle",
        "terminationMessagePath",
        "terminationMessagePolicy",
    }
)


class UnsupportedField(ValueError):
    """The pod spec uses something this translation cannot honour."""


@dataclass(frozen=True)
class HostVolume:
    """Where a pod volume lives on the host: a directory, or a fresh tmpfs (``emptyDir``)."""

    path: Path | None = None
    tmpfs_size: str = "64m"


def _quantity_bytes(value: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * factor)
    return int(float(value))


def _cpus(value: str) -> str:
    return str(int(value[:-1]) / 1000) if value.endswith("m") else str(float(value))


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[str]:
    pod_ctx: Mapping[str, Any] = pod.get("securityContext") or {}
    ctx: Mapping[str, Any] = {**pod_ctx, **(container.get("securityContext") or {})}
    args: list[str] = []
    user, group = ctx.get("runAsUser"), ctx.get("runAsGroup")
    if ctx.get("runAsNonRoot") and user in (None, 0):
        raise UnsupportedField(
            f"container {container['name']}: runAsNonRoot needs a non-zero runAsUser here, "
            f"got {user!r} (the image's USER is not checked by this translation)"
        )
    if user is not None:
        # podman writes an /etc/passwd entry for a user the image lacks; a kubelet does not, and
        # a process that looks its user up (getpass.getuser) then fails as it would in a pod.
        args += ["--user", f"{user}:{group}" if group is not None else str(user), "--passwd=false"]
    for extra in [pod_ctx.get("fsGroup"), *pod_ctx.get("supplementalGroups", [])]:
        if extra is not None:
            args += ["--group-add", str(extra)]
    if ctx.get("privileged"):
        raise UnsupportedField(f"container {container['name']}: privileged is not run here")
    if ctx.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    if ctx.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    caps: Mapping[str, Any] = ctx.get("capabilities") or {}
    args += [a for cap in caps.get("drop", []) for a in ("--cap-drop", cap)]
    args += [a for cap in caps.get("add", []) for a in ("--cap-add", cap)]
    seccomp = (ctx.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise UnsupportedField(f"container {container['name']}: seccompProfile.type {seccomp}")
    return args


def _env(container: Mapping[str, Any], fields: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for var in container.get("env", []):
        name = var["name"]
        if "value" in var:
            value = str(var["value"])
        elif "fieldRef" in (var.get("valueFrom") or {}):
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in fields:
                raise UnsupportedField(f"env {name}: fieldRef {path} has no value here")
            value = fields[path]
        else:
            raise UnsupportedField(f"env {name}: only value and fieldRef are supported")
        args += ["--env", f"{name}={value}"]
    return args


def _mounts(
    pod: Mapping[str, Any], container: Mapping[str, Any], volumes: Mapping[str, HostVolume]
) -> list[str]:
    declared = {v["name"] for v in pod.get("volumes", [])}
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        name, target = mount["name"], mount["mountPath"]
        if name not in declared:
            raise UnsupportedField(f"volumeMount {name}: the pod declares no such volume")
        if name not in volumes:
            raise UnsupportedField(f"volumeMount {name}: no host volume was given for it")
        host = volumes[name]
        if host.path is None:
            args += ["--mount", f"type=tmpfs,destination={target},tmpfs-size={host.tmpfs_size}"]
            continue
        source = host.path / mount["subPath"] if mount.get("subPath") else host.path
        mode = "ro" if mount.get("readOnly") else "rw"
        args += ["--volume", f"{source}:{target}:{mode}"]
    return args


def run_args(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    volumes: Mapping[str, HostVolume],
    *,
    name: str,
    fields: Mapping[str, str] | None = None,
    publish: Mapping[int, int] | None = None,
    service_account: Path | None = None,
    api_server: tuple[str, int] | None = None,
) -> list[str]:
    """Arguments of ``podman run`` (after ``run``) for ``container`` of the pod spec ``pod``.

    ``volumes`` maps the pod's volume names to host volumes; ``fields`` gives the values of
    ``fieldRef`` paths (``metadata.name``, ...). With ``publish`` (container port -> loopback
    port) the container gets a network namespace of its own, like a pod; without, it shares the
    host's. ``service_account`` is a directory holding ``token``, ``ca.crt`` and ``namespace``,
    mounted where a kubelet mounts them, and ``api_server`` the address a kubelet gives in
    ``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``.
    """
    unknown = set(container) - _HANDLED_CONTAINER_KEYS
    if unknown:
        raise UnsupportedField(f"container {container['name']}: {', '.join(sorted(unknown))}")
    args = ["--detach", "--name", name, "--pull", "never"]
    if publish:
        declared = {p["containerPort"] for p in container.get("ports", [])}
        for inside, outside in sorted(publish.items()):
            if inside not in declared:
                raise UnsupportedField(
                    f"publish {inside}: not a containerPort of container {container['name']}"
                )
            args += ["--publish", f"127.0.0.1:{outside}:{inside}"]
    else:
        args += ["--network", "host"]
    if api_server is not None:
        args += ["--env", f"KUBERNETES_SERVICE_HOST={api_server[0]}"]
        args += ["--env", f"KUBERNETES_SERVICE_PORT={api_server[1]}"]
    args += _security(pod, container)
    args += _env(container, fields or {})
    args += _mounts(pod, container, volumes)
    if service_account is not None:
        args += ["--volume", f"{service_account}:{SERVICE_ACCOUNT_DIR}:ro"]
    limits: Mapping[str, str] = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", str(_quantity_bytes(str(limits["memory"])))]
    if "cpu" in limits:
        args += ["--cpus", _cpus(str(limits["cpu"]))]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    command: list[str] = list(container.get("command") or [])
    if command:
        args += ["--entrypoint", json.dumps(command)]
    args.append(container["image"])
    args += [str(a) for a in container.get("args") or []]
    return args


def volume_files(
    pod: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, tuple[str, int]]]:
    """The files of each configMap and secret volume of the pod: volume name -> relative path ->
    (content, mode), with ``items`` and ``defaultMode`` applied as a kubelet applies them.
    ``emptyDir`` volumes are left out (they are tmpfs)."""
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for volume in pod.get("volumes", []):
        if "emptyDir" in volume:
            continue
        if "configMap" in volume:
            source, ref, data = volume["configMap"], volume["configMap"]["name"], config_maps
        elif "secret" in volume:
            source, ref, data = volume["secret"], volume["secret"]["secretName"], secrets
        else:
            raise UnsupportedField(f"volume {volume['name']}: only configMap, secret, emptyDir")
        if ref not in data:
            raise UnsupportedField(f"volume {volume['name']}: {ref} was not provided")
        mode = int(source.get("defaultMode", 0o644))
        items = source.get("items") or [{"key": k, "path": k} for k in data[ref]]
        out[volume["name"]] = {
            item["path"]: (data[ref][item["key"]], int(item.get("mode", mode))) for item in items
        }
    return out


def host_volumes(pod: Mapping[str, Any], dirs: Mapping[str, Path]) -> dict[str, HostVolume]:
    """Each pod volume on the host: ``emptyDir`` as a tmpfs of its ``sizeLimit`` (64 MiB if
    unset), every other volume as its directory in ``dirs`` (see :func:`volume_files`)."""
    out: dict[str, HostVolume] = {}
    for volume in pod.get("volumes", []):
        name = volume["name"]
        if "emptyDir" in volume:
            limit = str((volume["emptyDir"] or {}).get("sizeLimit", "64Mi"))
            out[name] = HostVolume(tmpfs_size=str(_quantity_bytes(limit)))
        elif name in dirs:
            out[name] = HostVolume(path=dirs[name])
        else:
            raise UnsupportedField(f"volume {name}: no host directory was given for it")
    return out


def probe_url(
    container: Mapping[str, Any], probe: str, publish: Mapping[int, int] | None = None
) -> str:
    """The loopback URL that reaches the container's ``httpGet`` probe: a named port resolved,
    then mapped through ``publish`` (container port -> loopback port) if given."""
    get = container[probe]["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if port not in ports:
            raise UnsupportedField(f"{probe}: port {port!r} is not a named port of the container")
        port = ports[port]
    if publish:
        port = publish[int(port)]
    return f"{get.get('scheme', 'HTTP').lower()}://127.0.0.1:{port}{get['path']}"
