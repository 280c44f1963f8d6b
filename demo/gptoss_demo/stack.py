"""Bring the whole system up on loopback, and down again: the local control plane with its fake
GPU nodes, the CRD, simulated Groq/Fireworks/Together, the router (discovering pods from the
cluster) and the operator (reading the router's spilled demand). Every process is supervised
and ended on exit.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.kubeapi import wait_until
from gptoss_localkube.net import answers, free_port, listening
from gptoss_localkube.processes import Supervisor
from gptoss_localkube.redis_server import RedisServer, ensure_redis
from gptoss_localkube.toolchain import Toolchain, ensure_toolchain

__all__ = ["PROVIDERS", "Stack", "running_stack"]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "gptoss-demo"

# name -> (simulator kind, API path, model id for gpt-oss-120b, $ in / out per 1M tokens);
# ids, paths and prices from the providers' docs (docs/sources.md, Providers).
PROVIDERS: dict[str, tuple[str, str, str, float, float]] = {
    "groq": ("groq", "/openai/v1", "openai/gpt-oss-120b", 0.15, 0.60),
    "fireworks": (
        "fireworks",
        "/inference/v1",
        "accounts/fireworks/models/gpt-oss-120b",
        0.15,
        0.60,
    ),
    "together": ("together", "/v1", "openai/gpt-oss-120b", 0.15, 0.60),
}
# Keys the simulators accept; a real install mounts them from a Secret.
DEMO_KEYS = {name: f"demo-{name}-key" for name in PROVIDERS}


@dataclass(frozen=True)
class Stack:
    toolchain: Toolchain
    cluster: ClusterInfo
    namespace: str
    router_url: str
    providers: dict[str, str]  # name -> simulator root URL (faults at /_sim/faults)
    workdir: Path
    operator_metrics_url: str  # the operator's own /metrics

    @property
    def router_api(self) -> str:
        return f"{self.router_url}/v1"

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.toolchain.kubectl), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


# The key the demo's clients present: the router is closed to callers without an app key.
DEMO_APP_KEY = "demo-app-key"
STORE_PASSWORD_ENV = "GPTOSS_DEMO_STORE_PASSWORD"  # noqa: S105 - a variable name


def router_config(
    port: int, providers: dict[str, str], namespace: str, *, store_url: str | None = None
) -> dict[str, Any]:
    """The router's configuration: pods and spillover rules come from the cluster's CRs; state
    (limits, spend, benches) in the Redis at ``store_url``, its password from the environment."""
    store = {"store": {"url": store_url, "key_env": STORE_PASSWORD_ENV}} if store_url else {}
    return {
        **store,
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "discovery": "kubernetes",
        "namespace": namespace,
        "apps": [
            {
                "name": "demo",
                "key": DEMO_APP_KEY,
                # Far above what the story sends: the limits and budget are enforced (every
                # answer carries x-ratelimit-* headers) without ever refusing the demo.
                "limits": {"requests_per_minute": 60_000, "dollars_per_day": 50.0},
            }
        ],
        "providers": [
            {
                "name": name,
                "kind": kind,
                "base_url": providers[name] + path,
                "key_env": f"{name.upper()}_API_KEY",
                "models": {
                    "gpt-oss-120b": {"id": model_id, "price": {"input": p_in, "output": p_out}}
                },
            }
            for name, (kind, path, model_id, p_in, p_out) in PROVIDERS.items()
        ],
        "tuning": {"probe_interval_s": 1.0, "base_ejection_s": 5.0},
    }


@contextmanager
def running_stack(
    workdir: Path, *, say: Callable[[str], None], pod_network: str = "127.1.0.0/16"
) -> Iterator[Stack]:
    say("building or finding the control plane, kubectl and helm (first run: minutes)")
    toolchain = ensure_toolchain()
    say("starting etcd, kube-apiserver, controller manager, scheduler and KWOK GPU nodes")
    processes = Supervisor(workdir / "logs")
    say("starting redis-server, the routers' shared state store")
    with (
        RedisServer(binary=ensure_redis()) as store,
        LocalCluster(toolchain, pod_network=pod_network) as info,
    ):
        try:
            stack = _start(toolchain, info, processes, workdir, say, store)
            yield stack
        finally:
            say("stopping the router, the operator and the simulators")
            processes.stop_all()


def _start(
    toolchain: Toolchain,
    info: ClusterInfo,
    processes: Supervisor,
    workdir: Path,
    say: Callable[[str], None],
    store: RedisServer,
) -> Stack:
    say(f"cluster up in {info.timings['total']:.1f}s; installing the GptOssDeployment CRD")
    kubectl = [str(toolchain.kubectl), f"--kubeconfig={info.kubeconfig}"]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *kubectl,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/gptossdeployments.gptoss.dev",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=True, capture_output=True)

    say("starting simulated Groq, Fireworks and Together AI")
    providers: dict[str, str] = {}
    for name, (kind, *_rest) in PROVIDERS.items():
        port = free_port()
        processes.start(
            name,
            [
                sys.executable,
                "-m",
                "gptoss_sim",
                kind,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--time-scale",
                "0.1",
            ],
        )
        providers[name] = f"http://127.0.0.1:{port}"
    for name, url in providers.items():
        port = int(url.rsplit(":", 1)[1])
        wait_until(
            f"{name} simulator",
            lambda: listening("127.0.0.1", port),  # noqa: B023 - called before the next iteration
            timeout=60,
            check=processes.check,
        )

    say("starting the router (pods discovered from the cluster, spillover from the CRs)")
    router_port = free_port()
    config = workdir / "router.yaml"
    config.write_text(
        yaml.safe_dump(router_config(router_port, providers, NAMESPACE, store_url=store.url))
    )
    keys = {f"{name.upper()}_API_KEY": key for name, key in DEMO_KEYS.items()}
    processes.start(
        "router",
        [sys.executable, "-m", "gptoss_router", "--config", str(config)],
        env={"KUBECONFIG": str(info.kubeconfig), STORE_PASSWORD_ENV: store.password, **keys},
    )
    router_url = f"http://127.0.0.1:{router_port}"
    wait_until(
        "router health",
        lambda: answers(f"{router_url}/healthz"),
        timeout=60,
        check=processes.check,
    )

    say("starting the operator (autoscaling on vLLM queues and the router's spill)")
    operator_port = free_port()
    processes.start(
        "operator",
        [
            sys.executable,
            "-m",
            "gptoss_operator",
            "--kubeconfig",
            str(info.kubeconfig),
            "--metrics-port",
            str(operator_port),
        ],
        env={
            "GPTOSS_OPERATOR_ROUTER_METRICS_URL": f"{router_url}/metrics",
            "GPTOSS_OPERATOR_AUTOSCALE_INTERVAL_SECONDS": "0.5",
            "GPTOSS_OPERATOR_RESYNC_SECONDS": "5",
        },
    )
    operator_metrics = f"http://127.0.0.1:{operator_port}/metrics"
    return Stack(toolchain, info, NAMESPACE, router_url, providers, workdir, operator_metrics)
