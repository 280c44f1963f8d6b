"""A simulated vLLM OpenAI-compatible server serving gpt-oss: its routes and their wiring.

Routes as vLLM's server has them (docs/sources.md, OpenAI API, vLLM
docs/serving/openai_compatible_server.md):
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses``, ``/v1/models``, ``/health``,
``/metrics``; ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` with run-time LoRA
updating. Plus, under ``/_sim``, controls for tests and demos: ``PUT|DELETE /_sim/faults``
and ``POST /_sim/engine`` (``{"dead": true}`` kills the engine).

The generating routes are ``gptoss_sim.vllm_generation``; how the engine loads and dies (and
the server with it) is ``gptoss_sim.vllm_lifecycle``; the settings are
``gptoss_sim.vllm_config``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gptoss_sim import vllm_serving
from gptoss_sim.clock import Clock, MonotonicClock
from gptoss_sim.engine import Engine
from gptoss_sim.errors import SimError, vllm_envelope
from gptoss_sim.fault_middleware import FaultInjector, FaultMiddleware
from gptoss_sim.faults import FaultSchedule
from gptoss_sim.lora import LoraRegistry
from gptoss_sim.metrics import VllmMetrics
from gptoss_sim.responses_store import ResponsesStore
from gptoss_sim.routing import faults_handler, guarded, json_body
from gptoss_sim.vllm_config import VllmConfig, dialect_of
from gptoss_sim.vllm_generation import Generation
from gptoss_sim.vllm_lifecycle import Lifecycle


def _render(error: SimError) -> tuple[dict[str, Any], dict[str, str]]:
    return vllm_envelope(error), {}


class VllmSim:
    """One simulated vLLM pod. ``build_app()`` gives its ASGI app."""

    api_prefix = "/v1"

    def __init__(
        self,
        config: VllmConfig | None = None,
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config or VllmConfig()
        self.clock = clock or MonotonicClock()
        self.registry = registry or CollectorRegistry()
        lora = self.config.lora
        self.metrics = VllmMetrics(
            self.registry, self.config.model, max_loras=lora.max_loras if lora.enabled else None
        )
        self.loras = LoraRegistry(self.config.lora, (self.config.model, *self.config.aliases))
        self.faults = FaultInjector(self.clock, FaultSchedule(self.config.faults))
        self.dialect = dialect_of(self.config, self.loras.names)
        self.store = ResponsesStore(self.config.responses_store)
        self.lifecycle = Lifecycle(self.config, self.clock, self.metrics, self.loras, self.store)
        self.generation = Generation(
            self.config, self.lifecycle, self.metrics, self.loras, self.dialect, self.store
        )

    @property
    def engine(self) -> Engine | None:
        """The running engine; ``None`` while the weights load."""
        return self.lifecycle.engine

    def phase(self) -> str:
        """``loading``, ``ready`` or ``dead``."""
        return self.lifecycle.phase()

    def release(self) -> None:
        self.faults.release_hangs()

    def should_exit(self) -> bool:
        """Whether the server should stop now (its engine died; ``gptoss_sim.vllm_lifecycle``)."""
        return self.lifecycle.should_exit()

    # -- the routes that do not generate -----------------------------------------------------

    async def models(self, request: Request) -> Response:
        if self.phase() == "loading":
            raise SimError(503, "The model is still loading its weights.")
        adapters = [(a.name, a.path, a.parent) for a in self.loras.adapters.values()]
        return JSONResponse(vllm_serving.models_body(self.dialect, adapters))

    async def load_lora_adapter(self, request: Request) -> Response:
        body = await vllm_serving.read_body(request)
        message = self.loras.load(
            str(body.get("lora_name") or ""),
            str(body.get("lora_path") or ""),
            load_inplace=bool(body.get("load_inplace")),
        )
        return Response(message, status_code=200)

    async def unload_lora_adapter(self, request: Request) -> Response:
        body = await vllm_serving.read_body(request)
        return Response(self.loras.unload(str(body.get("lora_name") or "")), status_code=200)

    async def health(self, request: Request) -> Response:
        # 200 with an empty body, or 503 (docs/sources.md, OpenAI API).
        return Response(status_code=200 if self.phase() == "ready" else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def control_engine(self, request: Request) -> Response:
        body = await json_body(request)
        engine = self.lifecycle.engine
        if body.get("dead") and engine is not None:
            engine.kill()
        return JSONResponse({"phase": self.phase()})

    def build_app(self) -> ASGIApp:
        gen = self.generation
        routes = [
            Route("/v1/chat/completions", guarded(gen.chat, _render), methods=["POST"]),
            Route("/v1/completions", guarded(gen.completions, _render), methods=["POST"]),
            Route("/v1/responses", guarded(gen.responses, _render), methods=["POST"]),
            Route(
                "/v1/responses/{response_id}",
                guarded(gen.retrieve_response, _render),
                methods=["GET"],
            ),
            Route(
                "/v1/responses/{response_id}/cancel",
                guarded(gen.cancel_response, _render),
                methods=["POST"],
            ),
            Route("/v1/models", guarded(self.models, _render), methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route(
                "/_sim/faults",
                guarded(faults_handler(self.faults), _render),
                methods=["PUT", "DELETE"],
            ),
            Route("/_sim/engine", guarded(self.control_engine, _render), methods=["POST"]),
        ]
        if self.config.lora.runtime_updating:
            # Only with VLLM_ALLOW_RUNTIME_LORA_UPDATING (serve/lora/api_router.py).
            routes += [
                Route(
                    "/v1/load_lora_adapter",
                    guarded(self.load_lora_adapter, _render),
                    methods=["POST"],
                ),
                Route(
                    "/v1/unload_lora_adapter",
                    guarded(self.unload_lora_adapter, _render),
                    methods=["POST"],
                ),
            ]
        app = Starlette(routes=routes, lifespan=self.lifecycle.lifespan)
        return FaultMiddleware(app, self.faults, _render)
