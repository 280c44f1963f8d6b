"""A simulated vLLM OpenAI-compatible server serving gpt-oss.

Routes as vLLM's server has them (docs/sources.md, OpenAI API, vLLM
docs/serving/openai_compatible_server.md):
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses``, ``/v1/models``, ``/health``,
``/metrics``. Plus, under ``/_sim``, controls for tests and demos: ``PUT|DELETE /_sim/faults``
and ``POST /_sim/engine`` (``{"dead": true}`` kills the engine).

Lifecycle, as vLLM 0.17.0 ``vllm/entrypoints/openai/api_server.py`` runs it: the socket is bound
first (``setup_server``), then the weights load (``capacity.startup_s``, in the app's lifespan
startup, before ``gptoss_sim.server`` starts listening): while loading, connections are refused,
``/health`` included, until ``serve_http`` listens.

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
import datetime
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gptoss_sim import endpoints, rendered_prompt, vllm_serving
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.chat_format import ChatStyle
from gptoss_sim.clock import Clock, MonotonicClock
from gptoss_sim.engine import ENGINE_DEAD_MESSAGE, Engine, EngineDead, RequestStats
from gptoss_sim.errors import SimError, vllm_envelope
from gptoss_sim.fault_middleware import FaultInjector, FaultMiddleware
from gptoss_sim.faults import FaultRule, FaultSchedule
from gptoss_sim.lora import LoraConfig, LoraRegistry
from gptoss_sim.metrics import VllmMetrics
from gptoss_sim.prefix_cache import BlockHash
from gptoss_sim.reply import ReplyParams, plan
from gptoss_sim.responses_store import ResponsesStore
from gptoss_sim.routing import faults_handler, guarded, json_body
from gptoss_sim.streaming import Pacer, stream_interval
from gptoss_sim.vllm_protocol import VLLM_017, Dialect, tool_call_id


@dataclass(frozen=True)
class VllmConfig:
    model: str = "openai/gpt-oss-120b"
    # More --served-model-name values: vLLM answers to each and lists each in /v1/models; the
    # first name (``model``) labels the metrics (vllm/entrypoints/openai/models/serving.py).
    aliases: tuple[str, ...] = ()
    capacity: CapacityParams = field(default_factory=CapacityParams)
    reply: ReplyParams = field(default_factory=ReplyParams)
    # vLLM's --stream-interval: tokens per streamed delta. vLLM defaults to 1; the recipe's
    # GPT-OSS_Hopper.yaml sets 20 (docs/sources.md, vLLM recipe).
    stream_interval: int = 1
    faults: tuple[FaultRule, ...] = ()
    # VLLM_KEEP_ALIVE_ON_ENGINE_DEATH: stay up after the engine dies (vllm/envs.py).
    keep_alive_on_engine_death: bool = False
    # How often vLLM's watchdog looks for a dead engine (launcher.py VLLM_WATCHDOG_TIME_S).
    watchdog_s: float = 5.0
    # VLLM_SYSTEM_START_DATE: the date in gpt-oss's system message; today's when unset
    # (vllm/entrypoints/openai/parser/harmony_utils.py, get_system_message).
    system_start_date: str | None = None
    # --enable-prompt-tokens-details: usage.prompt_tokens_details.cached_tokens on chat and
    # completions, when any prompt token was cached (chat_completion/serving.py).
    enable_prompt_tokens_details: bool = False
    # The vLLM release whose OpenAI server is simulated: "0.17.0" (the operator's image) or
    # "0.32.0" (gptoss_sim.vllm_protocol).
    vllm_version: str = VLLM_017
    # VLLM_ENABLE_RESPONSES_API_STORE=1: keep Responses in this process, for
    # previous_response_id, GET /v1/responses/{id}, cancel and background (responses_store).
    responses_store: bool = False
    # The model `vllm serve` loads (its positional argument / --model), /v1/models `root`;
    # None: the served name.
    model_path: str | None = None
    # --tool-call-parser openai, --enable-auto-tool-choice and --reasoning-parser
    # openai_gptoss, as the operator passes them by default (None/False: flag absent).
    tool_call_parser: str | None = "openai"
    enable_auto_tool_choice: bool = True
    reasoning_parser: str | None = "openai_gptoss"
    # --enable-lora, --max-loras, --max-lora-rank, --lora-modules and
    # VLLM_ALLOW_RUNTIME_LORA_UPDATING (gptoss_sim.lora).
    lora: LoraConfig = field(default_factory=LoraConfig)


def vllm_tool_call_id() -> str:
    # "chatcmpl-tool-" + 16 hex (gptoss_sim.vllm_protocol.tool_call_id).
    return tool_call_id()


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
        self.engine: Engine | None = None
        self._exit = False
        config = self.config
        self.dialect = Dialect(
            version=config.vllm_version,
            served_model=config.model,
            aliases=config.aliases,
            model_path=config.model_path or config.model,
            max_model_len=config.capacity.max_model_len,
            tool_parser=config.tool_call_parser is not None,
            auto_tools=config.enable_auto_tool_choice,
            reasoning_parser=config.reasoning_parser is not None,
            adapters=self.loras.names,
        )
        self.store = ResponsesStore(config.responses_store)

    # -- lifecycle ---------------------------------------------------------------------------

    def phase(self) -> str:
        """``loading``, ``ready`` or ``dead``."""
        if self.engine is None:
            return "loading"
        return "dead" if self.engine.dead else "ready"

    def release(self) -> None:
        self.faults.release_hangs()

    def should_exit(self) -> bool:
        """Whether the server should stop now (its engine died; see the module docstring)."""
        return self._exit

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
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

    def _engine(self) -> Engine:
        phase = self.phase()
        if phase == "loading":
            raise SimError(503, "The model is still loading its weights.")
        if phase == "dead" or self.engine is None:
            raise SimError(500, ENGINE_DEAD_MESSAGE)
        return self.engine

    # -- generation --------------------------------------------------------------------------

    def _start_date(self) -> str:
        return self.config.system_start_date or datetime.date.today().isoformat()

    def _pacer(
        self,
        hashes: tuple[BlockHash, ...] = (),
        stats: RequestStats | None = None,
        lora: str | None = None,
    ) -> Pacer:
        """Paces one request through the engine; ``hashes`` are its prompt's block hashes,
        ``lora`` the adapter it runs with."""
        engine = self._engine()
        interval = self.config.stream_interval

        def pacer(prompt_tokens: int, output_tokens: int) -> AsyncIterator[int]:
            counts = engine.generate(prompt_tokens, output_tokens, hashes, stats, lora)
            return stream_interval(counts, interval, max(1, output_tokens))

        return pacer

    def _cached(
        self,
        serving: endpoints.Serving,
        hashes: Callable[[int], tuple[BlockHash, ...]],
        model: object = None,
    ) -> tuple[endpoints.Serving, RequestStats]:
        """``serving`` pacing through the prefix cache (with the adapter ``model`` names, if
        it names one); the stats get its cached tokens."""
        stats = RequestStats()
        params = self.config.capacity
        chain = hashes(params.block_size) if params.enable_prefix_caching else ()
        return replace(serving, pacer=self._pacer(chain, stats, self._adapter(model))), stats

    def _adapter(self, model: object) -> str | None:
        """The LoRA adapter a request for ``model`` runs with (None: the base model)."""
        return model if isinstance(model, str) and model in self.loras.adapters else None

    def _serving(self) -> endpoints.Serving:
        return endpoints.Serving(
            pacer=self._pacer(),
            style=ChatStyle(reasoning_field="reasoning"),
            tool_call_id=vllm_tool_call_id,
            stream_error=lambda exc: vllm_envelope(SimError(500, str(exc))),
            on_finish=self.metrics.finished,
            failures=(EngineDead,),
            dialect=self.dialect,
            prompt_tokens_details=self.config.enable_prompt_tokens_details,
        )

    @staticmethod
    def _counting(
        cached: tuple[endpoints.Serving, RequestStats],
    ) -> endpoints.Serving:
        """The serving whose usage reports the prompt tokens found in the prefix cache."""
        serving, stats = cached
        return replace(serving, cached_tokens=lambda: stats.cached_tokens)

    async def chat(self, request: Request) -> Response:
        self._engine()
        chat = vllm_serving.chat_request(await vllm_serving.read_body(request), self.dialect)
        serving = self._serving()
        date = self._start_date()
        serving = self._counting(
            self._cached(
                serving,
                lambda size: rendered_prompt.chat_hashes(chat, size, date),
                chat.model,
            )
        )
        reply = plan(chat.ask, self.config.reply)
        return await endpoints.chat(request, chat, reply, serving)

    async def completions(self, request: Request) -> Response:
        self._engine()
        body = await vllm_serving.read_body(request)
        req = vllm_serving.completion_request(body, self.dialect, self.config.reply)
        serving = self._serving()
        serving = self._counting(
            self._cached(
                serving, lambda size: rendered_prompt.completion_hashes(req, size), req.model
            )
        )
        return await endpoints.completion(request, req, serving)

    async def responses(self, request: Request) -> Response:
        self._engine()
        body = await vllm_serving.read_body(request)
        req, max_output = vllm_serving.responses_request(body, self.dialect, self.store)
        serving = self._serving()
        date = self._start_date()
        serving = self._counting(
            self._cached(
                serving,
                lambda size: rendered_prompt.responses_hashes(req, size, date),
                req.model,
            )
        )
        reply = plan(req.ask, self.config.reply)
        return await vllm_serving.serve_response(
            request, req, reply, serving, self.store, max_output
        )

    async def retrieve_response(self, request: Request) -> Response:
        self._engine()
        return await vllm_serving.retrieve(request, self.store)

    async def cancel_response(self, request: Request) -> Response:
        self._engine()
        return await vllm_serving.cancel(request, self.store)

    # -- the rest ----------------------------------------------------------------------------

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
        if body.get("dead") and self.engine is not None:
            self.engine.kill()
        return JSONResponse({"phase": self.phase()})

    def build_app(self) -> ASGIApp:
        routes = [
            Route("/v1/chat/completions", guarded(self.chat, _render), methods=["POST"]),
            Route("/v1/completions", guarded(self.completions, _render), methods=["POST"]),
            Route("/v1/responses", guarded(self.responses, _render), methods=["POST"]),
            Route(
                "/v1/responses/{response_id}",
                guarded(self.retrieve_response, _render),
                methods=["GET"],
            ),
            Route(
                "/v1/responses/{response_id}/cancel",
                guarded(self.cancel_response, _render),
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
        app = Starlette(routes=routes, lifespan=self._lifespan)
        return FaultMiddleware(app, self.faults, _render)
