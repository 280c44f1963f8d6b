"""Running a simulator: on a host:port until stopped, or in a background thread for tests.

with running(VllmSim(...)) as server:       # a free loopback port, its own event loop
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")

Both bind the socket before the app's lifespan starts and listen only once it has started, as
vLLM's API server does (vLLM 0.17.0 ``vllm/entrypoints/openai/api_server.py``: ``setup_server``
binds, ``serve_http`` listens after the engine is built): a simulator that loads weights in its
lifespan refuses connections meanwhile. A simulator may ask to be stopped (``should_exit``), as
vLLM's watchdog stops its server when the engine dies (``vllm/entrypoints/launcher.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import uvicorn
from starlette.types import ASGIApp

from gptoss_sim.transport import H11WithTransport, HttpToolsWithTransport


class Simulator(Protocol):
    """What the runners need from a simulator."""

    api_prefix: str

    def build_app(self) -> ASGIApp: ...

    def release(self) -> None:
        """Called on the server's loop just before it stops (ends hanging requests)."""


@runtime_checkable
class Exiting(Protocol):
    """A simulator that can ask its server to stop."""

    def should_exit(self) -> bool: ...


class _Server(uvicorn.Server):
    """uvicorn, stoppable while the app's lifespan starts and when the simulator asks."""

    def __init__(self, config: uvicorn.Config, sim: Simulator) -> None:
        super().__init__(config)
        self._sim = sim

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # A signal during a long lifespan startup (loading weights) stops the server at once,
        # as vLLM's SIGTERM handler does while it initialises (api_server.setup_server).
        starting = asyncio.ensure_future(super().startup(sockets))
        while not starting.done():
            if self.should_exit:
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                return
            await asyncio.wait({starting}, timeout=0.05)
        starting.result()

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        return isinstance(self._sim, Exiting) and self._sim.should_exit()


def bind(host: str, port: int) -> socket.socket:
    """A bound, not yet listening TCP socket (vLLM's ``create_server_socket``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


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
    """Serve ``sim`` on ``host:port`` until interrupted or until it asks to stop."""
    sock = bind(host, port)
    try:
        _Server(_config(sim.build_app(), host, port, http=http), sim).run(sockets=[sock])
    finally:
        sock.close()


@dataclass(frozen=True)
class Running:
    host: str
    port: int
    api_prefix: str
    # The loop the server runs on, for a test that must look inside it after a failure.
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False, compare=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` to give the ``openai`` client."""
        return f"{self.base_url}{self.api_prefix}"


@contextmanager
def running(
    sim: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
    wait_until_listening: bool = True,
) -> Iterator[Running]:
    """Serve ``sim`` from a background thread; yields where it listens; stops it on exit.

    With ``wait_until_listening=False`` it yields as soon as the socket is bound, while the
    simulator may still be starting (loading weights) and refusing connections.
    """
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = _Server(_config(sim.build_app(), host, bound_port, http="httptools"), sim)
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
        finally:
            _cancel_leftovers(loop)
            loop.close()

    thread = threading.Thread(target=run, name=f"sim-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while wait_until_listening and not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=startup_timeout)
            sock.close()
            raise RuntimeError(f"simulator did not start on {host}:{bound_port}: {errors}")
        time.sleep(0.01)
    try:
        yield Running(host, bound_port, sim.api_prefix, loop)
    finally:
        with contextlib.suppress(RuntimeError):  # the loop may have stopped already
            loop.call_soon_threadsafe(sim.release)
        server.should_exit = True
        thread.join(timeout=startup_timeout)
        sock.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a server stopped mid-startup left running (its lifespan) and let it finish."""
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
