"""A simulated vLLM OpenAI-compatible server serving gpt-oss.

Routes as vLLM's server has them (router-anchors.md §4, vLLM
docs/serving/openai_compatible_server.md):
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses``, ``/v1/models``, ``/health``,
``/metrics``. Plus, under ``/_sim``, controls for tests and demos: ``PUT|DELETE /_sim/faults``
and ``POST /_sim/engine`` (``{"dead": true}`` kills the engine).

Lifecycle: for ``capacity.startup_s`` after start the server is "loading weights": ``/health``
and every API route answer 503. (A real vLLM binds its port before loading, then answers
nothing until ready; a fast 503 is the simulator's choice so probes and routers fail quickly.)
After ``/_sim/engine {"dead": true}`` ``/health`` answers 503 as it does on ``EngineDeadError``
(router-anchors.md §4, ``vllm/entrypoints/serve/instrumentator/health.py``) and requests 500.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gptoss_sim import endpoints
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.chat_format import ChatStyle
from gptoss_sim.chat_request import ChatRequest, parse_chat
from gptoss_sim.clock import Clock, MonotonicClock
from gptoss_sim.completions import parse_completion
from gptoss_sim.engine import Engine, EngineDead
from gptoss_sim.errors import SimError, vllm_envelope
from gptoss_sim.fault_middleware import FaultInjector, FaultMiddleware
from gptoss_sim.faults import FaultRule, FaultSchedule
from gptoss_sim.metrics import VllmMetrics
from gptoss_sim.reply import ReplyParams, plan
from gptoss_sim.responses_api import parse_responses
from gptoss_sim.routing import faults_handler, guarded, json_body


@dataclass(frozen=True)
class VllmConfig:
    model: str = "openai/gpt-oss-120b"
    capacity: CapacityParams = field(default_factory=CapacityParams)
    reply: ReplyParams = field(default_factory=ReplyParams)
    # vLLM's --stream-interval: tokens per streamed delta. vLLM defaults to 1; the recipe's
    # GPT-OSS_Hopper.yaml sets 20 (operator-anchors.md §3.1).
    stream_interval: int = 1
    faults: tuple[FaultRule, ...] = ()


def vllm_tool_call_id() -> str:
    # vLLM names tool calls "chatcmpl-tool-<16 hex>" (seen in vLLM gpt-oss responses, e.g.
    # "chatcmpl-tool-a494943accbbc022").
    return f"chatcmpl-tool-{uuid.uuid4().hex[:16]}"


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
        self.metrics = VllmMetrics(self.registry, self.config.model)
        self.faults = FaultInjector(self.clock, FaultSchedule(self.config.faults))
        self.engine: Engine | None = None
        self._ready_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def phase(self) -> str:
        """``loading``, ``ready`` or ``dead``."""
        if self.engine is None or self.clock.now() < self._ready_at:
            return "loading"
        return "dead" if self.engine.dead else "ready"

    def release(self) -> None:
        self.faults.release_hangs()

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        params = self.config.capacity
        engine = Engine(params, self.clock, self.metrics.observe_step)
        self.metrics.bind_engine(
            params,
            running=lambda: engine.num_running,
            waiting=lambda: engine.num_waiting,
            kv_usage=lambda: engine.kv_usage,
        )
        self._ready_at = self.clock.now() + params.startup_s
        self.engine = engine
        engine.start()
        try:
            yield
        finally:
            await engine.stop()

    def _engine(self) -> Engine:
        phase = self.phase()
        if phase == "loading":
            raise SimError(503, "The model is still loading its weights.")
        if phase == "dead" or self.engine is None:
            raise SimError(500, "EngineCore encountered an issue. See stack trace for details.")
        return self.engine

    # -- generation --------------------------------------------------------------------------

    def _serving(self) -> endpoints.Serving:
        engine = self._engine()
        interval = self.config.stream_interval

        async def pacer(prompt_tokens: int, output_tokens: int) -> AsyncIterator[int]:
            last = 0
            async for count in engine.generate(prompt_tokens, output_tokens):
                if count - last >= interval or count >= output_tokens:
                    last = count
                    yield count

        return endpoints.Serving(
            pacer=pacer,
            style=ChatStyle(reasoning_field="reasoning", vllm_shape=True),
            tool_call_id=vllm_tool_call_id,
            stream_error=lambda exc: vllm_envelope(SimError(500, str(exc))),
            on_finish=self.metrics.finished,
            failures=(EngineDead,),
            # vLLM's Responses API: "Usage accounting is currently broken and only returns all
            # zeros" (router-anchors.md §4, vllm-project/recipes OpenAI/GPT-OSS.md).
            zero_response_usage=True,
        )

    def _check(self, model: str, prompt_tokens: int, max_tokens: int | None) -> None:
        if model != self.config.model:
            # vLLM's _check_model: 404 NotFoundError "The model `x` does not exist."
            raise SimError(404, f"The model `{model}` does not exist.")
        limit = self.config.capacity.max_model_len
        wanted = prompt_tokens + (max_tokens or 0)
        if prompt_tokens >= limit or wanted > limit:
            raise SimError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{wanted} tokens ({prompt_tokens} in the messages, {max_tokens or 0} in the "
                "completion). Please reduce the length of the messages or completion.",
            )

    @staticmethod
    def _check_tools(chat: ChatRequest) -> None:
        choice = chat.body.get("tool_choice", "auto")
        if chat.body.get("tools") and choice not in ("auto", "none"):
            # gpt-oss on vLLM: "only tool_choice='auto' is supported" (operator-anchors.md
            # §3.1, vllm-project/recipes OpenAI/GPT-OSS.md, tool calling).
            raise SimError(
                400, "Only tool_choice='auto' is supported for gpt-oss.", param="tool_choice"
            )

    async def chat(self, request: Request) -> Response:
        serving = self._serving()
        chat = parse_chat(await json_body(request))
        self._check(chat.model, chat.prompt_tokens, chat.ask.max_tokens)
        self._check_tools(chat)
        reply = plan(chat.ask, self.config.reply)
        if not chat.include_reasoning:
            # include_reasoning: false drops the reasoning (router-anchors.md §4, recipe).
            serving = _without_reasoning(serving)
        return await endpoints.chat(request, chat, reply, serving)

    async def completions(self, request: Request) -> Response:
        serving = self._serving()
        req = parse_completion(await json_body(request), self.config.reply)
        self._check(req.model, req.prompt_tokens, None)
        return await endpoints.completion(request, req, serving)

    async def responses(self, request: Request) -> Response:
        serving = self._serving()
        req = parse_responses(await json_body(request))
        self._check(req.model, req.prompt_tokens, req.ask.max_tokens)
        if req.stream and req.ask.tool is not None:
            # Harmony matrix: the Responses API does everything but function calling while
            # streaming (router-anchors.md §4, vllm-project/recipes OpenAI/GPT-OSS.md).
            raise SimError(400, "Function calling is not supported with streaming responses.")
        reply = plan(req.ask, self.config.reply)
        response, _ = await endpoints.response(request, req, reply, serving, int(time.time()))
        return response

    # -- the rest ----------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        if self.phase() == "loading":
            raise SimError(503, "The model is still loading its weights.")
        model = self.config.model
        card = {
            "id": model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": model,
            "parent": None,
            "max_model_len": self.config.capacity.max_model_len,
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def health(self, request: Request) -> Response:
        # 200 with an empty body, or 503 (router-anchors.md §4).
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
        app = Starlette(routes=routes, lifespan=self._lifespan)
        return FaultMiddleware(app, self.faults, _render)


def _without_reasoning(serving: endpoints.Serving) -> endpoints.Serving:
    return replace(serving, style=replace(serving.style, reasoning_field=None))
