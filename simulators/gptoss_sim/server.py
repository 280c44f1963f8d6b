"""Running a simulator: on a host:port until stopped, or in a background thread for tests.

with running(VllmSim(...)) as server:       # a free loopback port, its own event loop
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from gptoss_sim.transport import H11WithTransport, HttpToolsWithTransport


class Simulator(Protocol):
    """What the runners need from a simulator."""

    api_prefix: str

    def build_app(self) -> ASGIApp: ...

    def release(self) -> None:
        """Called on the server's loop just before it stops (ends hanging requests)."""


def _config(app: ASGIApp, host: str, port: int, *, http: str) -> uvicorn.Config:
    protocol = HttpToolsWithTransport if http == "httptools" else H11WithTransport
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


def serve(sim: Simulator, host: str, port: int, *, http: str = "httptools") -> None:
    """Serve ``sim`` on ``host:port`` until interrupted."""
    uvicorn.Server(_config(sim.build_app(), host, port, http=http)).run()


@dataclass(frozen=True)
class Running:
    host: str
    port: int
    api_prefix: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` to give the ``openai`` client."""
        return f"{self.base_url}{self.api_prefix}"


@contextmanager
def running(
    sim: Simulator, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 10.0
) -> Iterator[Running]:
    """Serve ``sim`` from a background thread; yields where it listens; stops it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(sim.build_app(), host, bound_port, http="httptools"))
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"sim-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"simulator did not start on {host}:{bound_port}: {errors}")
        time.sleep(0.01)
    try:
        yield Running(host, bound_port, sim.api_prefix)
    finally:
        with contextlib.suppress(RuntimeError):  # the loop may have stopped already
            loop.call_soon_threadsafe(sim.release)
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()
