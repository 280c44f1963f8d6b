"""How one simulated vLLM server's engine loads, runs and dies.

As vLLM 0.17.0 ``vllm/entrypoints/openai/api_server.py`` runs it: the socket is bound first
(``setup_server``), then the weights load (``capacity.startup_s``, in the app's lifespan
startup, before ``gptoss_sim.server`` starts listening): while loading, connections are refused,
``/health`` included, until ``serve_http`` listens. ``--lora-modules`` load before serving; one
that fails stops the server.

Engine death (``POST /_sim/engine {"dead": true}``): requests in flight fail as vLLM's do (500
``InternalServerError`` with ``EngineDeadError``'s message; a stream gets that error as its last
event, then ``[DONE]``), new requests get the same 500, and ``/health`` answers 503
(``vllm/entrypoints/serve/instrumentator/health.py``). Then the server exits, as vLLM's
watchdog makes it (``vllm/entrypoints/launcher.py``, ``watchdog_loop`` every 5 s,
``terminate_if_errored``), unless ``keep_alive_on_engine_death``
(``VLLM_KEEP_ALIVE_ON_ENGINE_DEATH``): the pod restarts and clients see refused connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from starlette.applications import Starlette

from gptoss_sim.clock import Clock
from gptoss_sim.engine import ENGINE_DEAD_MESSAGE, Engine
from gptoss_sim.errors import SimError
from gptoss_sim.lora import LoraRegistry
from gptoss_sim.metrics import VllmMetrics
from gptoss_sim.responses_store import ResponsesStore
from gptoss_sim.vllm_config import VllmConfig


class Lifecycle:
    """The engine of one simulated vLLM server, from loading to its death.

    ``lifespan`` is the server app's lifespan: it loads, starts the engine and its watchdog,
    and stops them (and closes the Responses store) when the server stops.
    """

    def __init__(
        self,
        config: VllmConfig,
        clock: Clock,
        metrics: VllmMetrics,
        loras: LoraRegistry,
        store: ResponsesStore,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.loras = loras
        self.store = store
        self.engine: Engine | None = None
        self._exit = False

    def phase(self) -> str:
        """``loading``, ``ready`` or ``dead``."""
        if self.engine is None:
            return "loading"
        return "dead" if self.engine.dead else "ready"

    def should_exit(self) -> bool:
        """Whether the server should stop now (its engine died; see the module docstring)."""
        return self._exit

    def ready_engine(self) -> Engine:
        """The running engine, or the error a request gets while loading (503) or dead (500)."""
        phase = self.phase()
        if phase == "loading":
            raise SimError(503, "The model is still loading its weights.")
        if phase == "dead" or self.engine is None:
            raise SimError(500, ENGINE_DEAD_MESSAGE)
        return self.engine

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        params = self.config.capacity
        lora = self.config.lora
        if lora.enabled:
            params = replace(params, max_loras=lora.max_loras)
        # Loading the weights: the server does not listen until this returns.
        await self.clock.sleep(params.startup_s)
        # --lora-modules load before serving; one that fails stops the server (ValueError).
        self.loras.load_static()
        engine = Engine(params, self.clock, self.metrics.observe_step)
        self.metrics.bind_engine(
            params,
            running=lambda: engine.num_running,
            waiting=lambda: engine.num_waiting,
            kv_usage=lambda: engine.kv_usage,
        )
        self.engine = engine
        engine.start()
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(engine))
        try:
            yield
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)
            await self.store.aclose()
            await engine.stop()

    async def _watchdog(self, engine: Engine) -> None:
        # vllm/entrypoints/launcher.py watchdog_loop → terminate_if_errored.
        while not (engine.dead and not self.config.keep_alive_on_engine_death):
            await self.clock.sleep(self.config.watchdog_s)
        self._exit = True
