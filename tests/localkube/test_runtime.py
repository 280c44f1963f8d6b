"""The pod runtime plays the kubelet for annotated pods on fake nodes: it runs the container as
a local process on the pod's IP, reports readiness from the container's own probes, restarts it
when the liveness probe fails, and stops it when the pod goes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from tests.waiting import eventually

SERVER = Path(__file__).with_name("probe_server.py")


def _pod(name: str, ready_file: Path) -> dict[str, Any]:
    probe = {"periodSeconds": 1, "failureThreshold": 2}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {RUNTIME_ANNOTATION: "process"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "cpu-0"},
            "containers": [
                {
                    "name": "server",
                    "image": "registry.invalid/probe-server:1",
                    "command": [sys.executable, str(SERVER)],
                    "ports": [{"containerPort": 8080}],
                    "env": [
                        {
                            "name": "POD_IP",
                            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                        },
                        {"name": "PORT", "value": "8080"},
                        {"name": "READY_FILE", "value": str(ready_file)},
                    ],
                    "startupProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "periodSeconds": 1,
                        "failureThreshold": 30,
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, **probe},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, **probe},
                }
            ],
        },
    }


def _status(core: client.CoreV1Api, name: str, namespace: str) -> client.V1PodStatus:
    return core.read_namespaced_pod(name, namespace).status


def _container_ready(status: client.V1PodStatus) -> bool:
    return bool(status.container_statuses and status.container_statuses[0].ready)


def test_readiness_follows_the_containers_own_probe(
    api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api_client)
    ready_file = tmp_path / "ready"
    core.create_namespaced_pod(namespace, _pod("probed", ready_file))

    started = eventually(
        lambda: (
            (s := _status(core, "probed", namespace)).container_statuses
            and s.container_statuses[0].started
            and s
        ),
        timeout=60,
        what="the container to pass its startup probe",
    )
    assert not _container_ready(started)
    assert httpx.get(f"http://{started.pod_ip}:8080/healthz", timeout=5).status_code == 200

    ready_file.touch()
    status = eventually(
        lambda: _container_ready(s := _status(core, "probed", namespace)) and s,
        timeout=30,
        what="readiness once /ready answers 200",
    )
    ready = [c for c in status.conditions if c.type == "Ready"]
    assert ready[0].status == "True"


def _pid_listening(ip: str) -> Callable[[], int | None]:
    def find() -> int | None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(SERVER).encode() in cmdline and f"POD_IP={ip}".encode() in environ:
                return int(entry.name)
        return None

    return find


def test_a_failing_liveness_probe_restarts_the_container_and_deleting_the_pod_stops_it(
    api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api_client)
    ready_file = tmp_path / "ready"
    ready_file.touch()
    core.create_namespaced_pod(namespace, _pod("restarted", ready_file))
    status = eventually(
        lambda: _container_ready(s := _status(core, "restarted", namespace)) and s,
        timeout=60,
        what="a ready container",
    )
    first = eventually(_pid_listening(status.pod_ip), timeout=10, what="the container process")
    os.kill(first, 9)

    restarted = eventually(
        lambda: (
            (s := _status(core, "restarted", namespace)).container_statuses[0].restart_count == 1
            and _container_ready(s)
            and s
        ),
        timeout=60,
        what="a restart after liveness failures",
    )
    assert restarted.container_statuses[0].restart_count == 1
    second = eventually(_pid_listening(status.pod_ip), timeout=10, what="the restarted process")
    assert second != first

    core.delete_namespaced_pod("restarted", namespace)

    def pod_gone() -> bool:
        try:
            core.read_namespaced_pod("restarted", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(pod_gone, timeout=60, what="the pod to be deleted")
    eventually(lambda: _pid_listening(status.pod_ip)() is None, timeout=30, what="process stop")
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


def test_a_container_that_exits_is_restarted_and_then_shown_crash_looping(
    api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api_client)
    pod = _pod("exits", tmp_path / "ready")
    pod["spec"]["containers"][0]["command"] = [sys.executable, "-c", "raise SystemExit(2)"]
    core.create_namespaced_pod(namespace, pod)

    def crash_looping() -> client.V1ContainerStatus | None:
        statuses = _status(core, "exits", namespace).container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        looping = waiting is not None and waiting.reason == "CrashLoopBackOff"
        return statuses[0] if looping and statuses[0].restart_count >= 1 else None

    status = eventually(crash_looping, timeout=60, what="CrashLoopBackOff after a restart")
    assert not status.ready
