"""Loading and engine death as vLLM 0.17.0 goes through them (``api_server.py``, ``launcher.py``):
the port is bound but refuses connections while the weights load, and the server exits once the
engine is dead, unless ``VLLM_KEEP_ALIVE_ON_ENGINE_DEATH``."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx

from gptoss_sim import VllmSim, running
from gptoss_sim.clock import MonotonicClock
from gptoss_sim.engine import ENGINE_DEAD_MESSAGE
from tests.sim.conftest import FAST, MODEL, vllm_config
from tests.waiting import eventually

LOAD_SECONDS = 3_600.0  # a sleep this long is the weights loading
SLOW = replace(FAST, step_base_s=0.05)  # about a second per reply, so requests are in flight
PROMPT = [{"role": "user", "content": "Stay a while"}]


class HeldLoading(MonotonicClock):
    """Wall time, except that loading the weights lasts until ``finish_loading()``."""

    def __init__(self) -> None:
        self.loading = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loaded: asyncio.Event | None = None

    async def sleep(self, seconds: float) -> None:
        if seconds < LOAD_SECONDS:
            await super().sleep(seconds)
            return
        self._loop = asyncio.get_running_loop()
        self._loaded = asyncio.Event()
        self.loading.set()
        await self._loaded.wait()

    def finish_loading(self) -> None:
        assert self._loop is not None and self._loaded is not None
        self._loop.call_soon_threadsafe(self._loaded.set)


class CountingWatchdog(MonotonicClock):
    """Wall time that counts the watchdog's sleeps (of exactly ``period`` seconds)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.watchdog_sleeps = 0

    async def sleep(self, seconds: float) -> None:
        if seconds == self.period:
            self.watchdog_sleeps += 1
        await super().sleep(seconds)


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def port_is_bound(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def test_while_the_weights_load_the_port_is_bound_but_refuses_connections() -> None:
    clock = HeldLoading()
    sim = VllmSim(vllm_config(capacity=replace(FAST, startup_s=LOAD_SECONDS)), clock=clock)
    with running(sim, wait_until_listening=False) as server:
        assert clock.loading.wait(10), "the simulator never started loading"
        assert port_is_bound(server.host, server.port)
        assert refused(f"{server.base_url}/health")
        assert refused(f"{server.base_url}/v1/models")
        clock.finish_loading()
        eventually(
            lambda: httpx.get(f"{server.base_url}/health").status_code == 200,
            timeout=10,
            what="/health once loaded",
        )


def test_a_signal_while_loading_stops_the_server_at_once() -> None:
    host = "127.0.0.1"
    with socket.socket() as pick:
        pick.bind((host, 0))
        port = pick.getsockname()[1]
    command = [sys.executable, "-m", "gptoss_sim", "vllm", "--host", host, "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--startup-seconds", str(LOAD_SECONDS)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: port_is_bound(host, port), timeout=20, what="the bound port")
        assert refused(f"http://{host}:{port}/health")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_dead_engine_fails_requests_in_flight_then_the_server_exits() -> None:
    sim = VllmSim(vllm_config(capacity=SLOW, watchdog_s=0.05))
    with running(sim) as server, ThreadPoolExecutor(2) as pool, httpx.Client() as http:
        base = server.base_url
        body = {"model": MODEL, "messages": PROMPT}
        whole = pool.submit(http.post, f"{base}/v1/chat/completions", json=body, timeout=30)

        def stream() -> list[str]:
            with http.stream(
                "POST", f"{base}/v1/chat/completions", json={**body, "stream": True}, timeout=30
            ) as response:
                return [line for line in response.iter_lines() if line.startswith("data: ")]

        streamed = pool.submit(stream)
        eventually(lambda: sim.engine is not None and sim.engine.num_running == 2, timeout=10)
        http.post(f"{base}/_sim/engine", json={"dead": True}).raise_for_status()

        answer = whole.result(timeout=30)
        assert answer.status_code == 500
        assert answer.json()["error"]["message"] == ENGINE_DEAD_MESSAGE
        assert answer.json()["error"]["type"] == "InternalServerError"
        events = streamed.result(timeout=30)
        assert events[-1] == "data: [DONE]"
        error = json.loads(events[-2].removeprefix("data: "))
        assert error["error"]["message"] == ENGINE_DEAD_MESSAGE
        assert error["error"]["code"] == 500

        eventually(lambda: refused(f"{base}/health"), timeout=10, what="the server to exit")


def test_with_keep_alive_on_engine_death_the_server_stays_up_answering_503() -> None:
    clock = CountingWatchdog(period=0.05)
    config = vllm_config(watchdog_s=clock.period, keep_alive_on_engine_death=True)
    with running(VllmSim(config, clock=clock)) as server:
        httpx.post(f"{server.base_url}/_sim/engine", json={"dead": True}).raise_for_status()
        seen = clock.watchdog_sleeps
        eventually(lambda: clock.watchdog_sleeps >= seen + 3, timeout=10, what="watchdog rounds")
        assert httpx.get(f"{server.base_url}/health").status_code == 503
        failed = httpx.post(
            f"{server.base_url}/v1/chat/completions", json={"model": MODEL, "messages": PROMPT}
        )
        assert failed.status_code == 500


def test_the_command_line_process_exits_after_engine_death() -> None:
    host = "127.0.0.1"
    with socket.socket() as pick:
        pick.bind((host, 0))
        port = pick.getsockname()[1]
    command = [sys.executable, "-m", "gptoss_sim", "vllm", "--host", host, "--port", str(port)]
    env = {**os.environ, "VLLM_KEEP_ALIVE_ON_ENGINE_DEATH": "0"}
    process = subprocess.Popen(
        [*command, "--startup-seconds", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://{host}:{port}"
    try:
        eventually(lambda: not refused(f"{base}/health"), timeout=20, what="/health")
        httpx.post(f"{base}/_sim/engine", json={"dead": True}).raise_for_status()
        # vLLM's watchdog looks every 5 s, then uvicorn shuts down and the process ends.
        assert process.wait(timeout=15) == 0
        assert refused(f"{base}/health")
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
