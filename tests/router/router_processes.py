"""Real router processes for the shared-state tests: ``python -m gptoss_router --config <file>``.

Each router gets a free loopback port, a JSON configuration file and a log file of its own
(stdout and stderr together) in the test's directory. Secrets never go into the files: the
caller hands them over as environment variables (``secrets``) and the configuration names them
with ``key_env``; ``write_config`` refuses a configuration that holds one of them.

    with router_processes([config] * 3, tmp_path, secrets={"STORE_KEY": password}) as routers:
        httpx.get(f"{routers[0].base_url}/readyz")

``router_processes`` starts them together, waits for every ``GET /readyz`` to answer 200 before
a deadline (failing with the log of a router that exited or never got ready) and stops them at
the end: SIGTERM, then SIGKILL for one that has not exited after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_localkube.net import free_ports

__all__ = ["RouterProcess", "router_processes", "run_until_exit", "write_config"]


@dataclass
class RouterProcess:
    """One router process and where to find it."""

    name: str
    port: int
    config_path: Path
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` to give the ``openai`` client."""
        return f"{self.base_url}/v1"

    def log(self) -> str:
        """Everything the router wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def readyz(self, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        """``GET /readyz``: its status and its JSON body."""
        answer = httpx.get(f"{self.base_url}/readyz", timeout=timeout)
        return answer.status_code, answer.json()

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of sample ``name`` with (at least) ``labels`` on ``GET /metrics``; the sum
        when several samples match, None when none does."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=2.0).text
        wanted = dict(labels or {})
        values = [
            float(sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and wanted.items() <= sample.labels.items()
        ]
        return sum(values) if values else None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=grace)


def write_config(path: Path, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
    """Write ``config`` as JSON to ``path``; no secret value may be in it (use ``key_env``)."""
    text = json.dumps(config, indent=2)
    for name, value in secrets.items():
        assert value not in text, f"the value of {name} must come by key_env, not in the file"
    path.write_text(text)


def _environment(secrets: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTOSS_ROUTER_")}
    return {**env, "PYTHONUNBUFFERED": "1", **secrets}


def _spawn(
    name: str,
    port: int,
    config: Mapping[str, Any],
    directory: Path,
    secrets: Mapping[str, str],
) -> RouterProcess:
    config_path = directory / f"{name}.json"
    log_path = directory / f"{name}.log"
    write_config(config_path, {**config, "host": "127.0.0.1", "port": port}, secrets)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gptoss_router", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(secrets),
            start_new_session=True,
        )
    return RouterProcess(name, port, config_path, log_path, popen)


def _ready(router: RouterProcess) -> bool:
    try:
        return httpx.get(f"{router.base_url}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def router_processes(
    configs: Sequence[Mapping[str, Any]],
    directory: Path,
    *,
    secrets: Mapping[str, str] | None = None,
    ready_within: float = 30.0,
    prefix: str = "router",
) -> Iterator[list[RouterProcess]]:
    """Start one router per configuration, wait until all are ready, stop them all at the end."""
    secrets = dict(secrets or {})
    ports = free_ports(len(configs))
    routers: list[RouterProcess] = []
    try:
        for index, (config, port) in enumerate(zip(configs, ports, strict=True)):
            routers.append(_spawn(f"{prefix}-{index}", port, config, directory, secrets))
        deadline = time.monotonic() + ready_within
        waiting = list(routers)
        while waiting:
            for router in list(waiting):
                code = router.popen.poll()
                if code is not None:
                    raise AssertionError(
                        f"{router.name} exited with status {code} before it was ready:\n"
                        f"{router.log()[-4000:]}"
                    )
                if _ready(router):
                    waiting.remove(router)
            if waiting and time.monotonic() > deadline:
                raise AssertionError(
                    f"{waiting[0].name} did not answer /readyz 200 within {ready_within} s:\n"
                    f"{waiting[0].log()[-4000:]}"
                )
            if waiting:
                time.sleep(0.05)  # polling interval of the readiness wait
        yield routers
    finally:
        for router in routers:
            with contextlib.suppress(ProcessLookupError):
                router.popen.send_signal(signal.SIGTERM)
        for router in routers:
            router.stop()


def run_until_exit(
    config: Mapping[str, Any],
    directory: Path,
    *,
    name: str,
    secrets: Mapping[str, str] | None = None,
    within: float = 30.0,
) -> tuple[int, str]:
    """Start a router that is expected to fail its start-up; its exit status and its log."""
    secrets = dict(secrets or {})
    router = _spawn(name, free_ports(1)[0], config, directory, secrets)
    try:
        code = router.popen.wait(timeout=within)
    except subprocess.TimeoutExpired:
        router.stop()
        raise AssertionError(
            f"{name} was still running after {within} s:\n{router.log()[-4000:]}"
        ) from None
    return code, router.log()
