"""The chaos run's backends: vLLM and provider simulators in processes of their own that can be
killed, restarted and told to fail; the router's settings over them, and whether the router
would plan one now."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys

import aiohttp

from gptoss_router.http.app import RouterApp
from gptoss_router.settings import RouterSettings

from .plan import HOST, MODEL, PROVIDER_KEY

__all__ = ["Backend", "in_rotation", "router_settings"]


class Backend:
    """One simulator in its own process, which can be killed and started again."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self.local = name.startswith("pod")
        self.openai_url = self.base_url + ("/v1" if self.local else "/inference/v1")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        kind = ["vllm", "--model", MODEL, "--startup-seconds", "0", "--step-base-s", "0.01"]
        if not self.local:
            kind = ["fireworks", "--time-scale", "0.5"]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gptoss_sim", *kind, "--host", HOST, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    async def ready(self, http: aiohttp.ClientSession, within_s: float = 20.0) -> None:
        url = f"{self.base_url}/health" if self.local else f"{self.openai_url}/models"
        key = {"authorization": f"Bearer {PROVIDER_KEY}"}
        async with asyncio.timeout(within_s):
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url, headers=key) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def faults(self, http: aiohttp.ClientSession, rules: list[str]) -> None:
        async with http.put(f"{self.base_url}/_sim/faults", json=rules) as response:
            response.raise_for_status()


def router_settings(backends: dict[str, Backend]) -> RouterSettings:
    pods = [b.base_url for b in backends.values() if b.local]
    providers = [
        {
            "name": b.name,
            "kind": "fireworks",
            "base_url": b.openai_url,
            "key": PROVIDER_KEY,
            "models": {
                MODEL: {
                    "id": "accounts/fireworks/models/gpt-oss-120b",
                    "price": {"input": 0.15, "output": 0.6},
                }
            },
        }
        for b in backends.values()
        if not b.local
    ]
    return RouterSettings(
        allow_anonymous=True,
        models={
            MODEL: {"local": {"pods": pods, "max_inflight": 4, "max_queue_depth": 4}},
        },
        providers=providers,
        tuning={
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 0.75,
            "idle_timeout_s": 2.0,
            "base_ejection_s": 2.0,
            "max_ejection_s": 10.0,
            "probe_interval_s": 0.25,
            "scrape_interval_s": 0.1,
            "stale_after_s": 0.5,
        },
    )  # type: ignore[arg-type]


def in_rotation(app: RouterApp, backend: Backend) -> bool:
    """Whether the router would plan ``backend`` now."""
    backends = app.state.shared.backends
    if backend.local:
        pod = backends.pools.get(MODEL, backend.base_url)
        if pod is None:
            return False
        view = backends.pod_view(pod, scraped=True)
        return view.fresh and not view.ejected
    return not backends.health.is_ejected(backend.name) and not backends.limits.is_spent(
        backend.name
    )
