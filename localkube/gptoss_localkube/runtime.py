"""A process runtime for fake nodes: the part of a kubelet that KWOK does not play.

A pod annotated ``localkube.gptoss.dev/runtime: <name>`` is started Running-but-not-Ready by
KWOK (stage ``pod-start``), with an IP from its node's loopback pod CIDR. This runtime then runs
the pod's first container (read by ``podcontainer``) as a local process listening on that IP
(the command comes from the runtime registered under ``<name>``), probes it with the
container's own startup, readiness and liveness probes (semantics in ``probing``), writes
``Ready``/``ContainersReady`` and the container status back to the pod, restarts the process
when a probe says so or it exits (counting ``restartCount``), and stops it when the pod is
deleted.

    runtime = PodRuntime(api, supervisor, {"process": run_container_command})
    runtime.start(); ...; runtime.stop()
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from gptoss_localkube.kubeapi import ApiClient
from gptoss_localkube.podcontainer import (
    RUNTIME_ANNOTATION,
    Container,
    RuntimeCommand,
    container_of,
    log_tail_message,
    probes_of,
)
from gptoss_localkube.probing import ContainerHealth, Kind, Probe, Verdict
from gptoss_localkube.processes import Supervisor

__all__ = ["PodRuntime"]


@dataclass
class _Running:
    uid: str
    runtime: str
    container: Container
    process_name: str
    probes: dict[Kind, Probe]
    health: ContainerHealth
    started_at: float
    restarts: int = 0
    due: dict[Kind, float] = field(default_factory=dict)
    exited_at: float | None = None  # the process ended and waits for its restart back-off
    last_exit: dict[str, Any] | None = None  # lastState.terminated of its latest exit


def _state(running: _Running, now: str) -> dict[str, Any]:
    if running.exited_at is None:
        return {"running": {"startedAt": now}}
    message = f"back-off restarting failed container (restarted {running.restarts} times)"
    return {"waiting": {"reason": "CrashLoopBackOff", "message": message}}


def _now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodRuntime:
    """Runs, probes and reports the annotated pods of a local cluster, in a background thread."""

    def __init__(
        self,
        api: ApiClient,
        supervisor: Supervisor,
        runtimes: dict[str, RuntimeCommand],
        *,
        tick: float = 0.2,
    ) -> None:
        self._api = api
        self._supervisor = supervisor
        self._runtimes = runtimes
        self._tick = tick
        self._running: dict[str, _Running] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-runtime", daemon=True)
        self._http = httpx.Client(timeout=1.0)
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for running in list(self._running.values()):
            self._supervisor.stop(running.process_name, grace=5)
        self._running.clear()
        self._http.close()
        self._api.close()

    def running_pods(self) -> list[str]:
        return sorted(f"{r.container.namespace}/{r.container.pod}" for r in self._running.values())

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self._sync(self._api.pods())
                self._restart_exited(time.monotonic())
                self._probe_due(time.monotonic())
            except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                del self.errors[:-50]

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        wanted: dict[str, dict[str, Any]] = {}
        for pod in pods:
            runtime = pod["metadata"].get("annotations", {}).get(RUNTIME_ANNOTATION)
            if runtime in self._runtimes and container_of(pod) is not None:
                wanted[pod["metadata"]["uid"]] = pod
        for uid in set(self._running) - set(wanted):
            self._supervisor.stop(self._running.pop(uid).process_name, grace=5)
        for uid, pod in wanted.items():
            if uid not in self._running:
                self._launch(uid, pod)

    def _launch(self, uid: str, pod: dict[str, Any]) -> None:
        container = container_of(pod)
        assert container is not None
        node = self._api.get(f"/api/v1/nodes/{pod['spec'].get('nodeName', '')}")
        labels = dict((node or {}).get("metadata", {}).get("labels") or {})
        container = dataclasses.replace(container, node_labels=labels)
        runtime = pod["metadata"]["annotations"][RUNTIME_ANNOTATION]
        name = f"pod-{container.namespace}-{container.pod}"
        self._supervisor.start(name, self._runtimes[runtime](container), env=container.env)
        probes = probes_of(pod, container.port)
        now = time.monotonic()
        running = _Running(
            uid=uid,
            runtime=runtime,
            container=container,
            process_name=name,
            probes=probes,
            health=self._fresh_health(probes),
            started_at=now,
            due={kind: now + probe.initial_delay for kind, probe in probes.items()},
        )
        self._running[uid] = running
        self._report(running)

    @staticmethod
    def _fresh_health(probes: dict[Kind, Probe]) -> ContainerHealth:
        return ContainerHealth(
            has_startup_probe=Kind.STARTUP in probes,
            has_readiness_probe=Kind.READINESS in probes,
        )

    def _probe_due(self, now: float) -> None:
        for running in list(self._running.values()):
            for kind, probe in running.probes.items():
                if not running.health.runs(kind) or running.due.get(kind, 0) > now:
                    continue
                running.due[kind] = now + probe.period
                ok = self._check(running.container.ip, probe)
                verdict = running.health.record(kind, ok, probe)
                if verdict is Verdict.RESTART:
                    self._restart(running)
                    break
                if verdict is Verdict.CHANGED:
                    self._report(running)

    def _restart_exited(self, now: float) -> None:
        """A container whose process ended is started again and counted, as the kubelet does
        under ``restartPolicy: Always`` (vLLM exits on a refused command line or when its engine
        dies): at once the first time, then after a back-off doubling from 10 s to 5 minutes,
        reported meanwhile as ``CrashLoopBackOff``."""
        for running in list(self._running.values()):
            if self._supervisor.exit_code(running.process_name) is None:
                continue
            if running.exited_at is None:
                running.exited_at = now
                running.last_exit = self._terminated(running)
                running.health = self._fresh_health(running.probes)
                self._report(running)
            backoff = 0.0 if running.restarts == 0 else min(10.0 * 2 ** (running.restarts - 1), 300)
            if now - running.exited_at >= backoff:
                running.exited_at = None
                self._restart(running)

    def _terminated(self, running: _Running) -> dict[str, Any]:
        """``lastState.terminated`` of a container whose process just ended, as a kubelet
        writes it."""
        code = self._supervisor.exit_code(running.process_name) or 0
        ended: dict[str, Any] = {
            "exitCode": code,
            "reason": "Error" if code else "Completed",
            "finishedAt": _now_rfc3339(),
        }
        if code and running.container.message_from_log:
            log = self._supervisor.log_of(running.process_name)
            with contextlib.suppress(OSError):
                ended["message"] = log_tail_message(log.read_text(errors="replace"))
        return ended

    def _check(self, ip: str, probe: Probe) -> bool:
        try:
            response = self._http.get(
                f"http://{ip}:{probe.port}{probe.path}", timeout=probe.timeout
            )
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 400

    def _restart(self, running: _Running) -> None:
        self._supervisor.stop(running.process_name, grace=5)
        self._supervisor.start(
            running.process_name,
            self._runtimes[running.runtime](running.container),
            env=running.container.env,
        )
        running.restarts += 1
        running.health = self._fresh_health(running.probes)
        now = time.monotonic()
        running.started_at = now
        running.due = {kind: now + probe.initial_delay for kind, probe in running.probes.items()}
        self._report(running)

    def _report(self, running: _Running) -> None:
        ready = "True" if running.health.ready else "False"
        now = _now_rfc3339()
        c = running.container
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
            {"type": "Ready", "status": ready, "lastTransitionTime": now},
        ]
        pod_path = f"/api/v1/namespaces/{c.namespace}/pods/{c.pod}"
        current = self._api.get(pod_path)
        if current is None:
            return
        name = current["spec"]["containers"][0]["name"]
        status = {
            "name": name,
            "image": c.image,
            "ready": running.health.ready,
            "started": running.health.started,
            "restartCount": running.restarts,
            "state": _state(running, now),
        }
        if running.last_exit is not None:
            status["lastState"] = {"terminated": running.last_exit}
        self._api.merge_patch(
            f"{pod_path}/status",
            {"status": {"conditions": conditions, "containerStatuses": [status]}},
        )
