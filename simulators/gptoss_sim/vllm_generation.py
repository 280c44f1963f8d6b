"""The generating routes of one simulated vLLM server: chat, completions and Responses.

Each request is checked and clamped as vLLM does it (``gptoss_sim.vllm_serving``), its reply
planned (``gptoss_sim.reply``) and paced through the engine: the prompt's block hashes
(``gptoss_sim.rendered_prompt``) are looked up in the prefix cache when prefix caching is on,
the request runs with the LoRA adapter its ``model`` names, and its usage reports the prompt
tokens found cached. Every route refuses while the engine loads or after it died
(``gptoss_sim.vllm_lifecycle``). Stored Responses are read and cancelled here too.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from gptoss_sim import (
    chat_endpoint,
    completion_endpoint,
    endpoints,
    rendered_prompt,
    vllm_responses_serving,
    vllm_serving,
)
from gptoss_sim.chat_format import ChatStyle
from gptoss_sim.engine import EngineDead, RequestStats
from gptoss_sim.errors import SimError, vllm_envelope
from gptoss_sim.lora import LoraRegistry
from gptoss_sim.metrics import VllmMetrics
from gptoss_sim.prefix_cache import BlockHash
from gptoss_sim.reply import plan, plan_choices
from gptoss_sim.responses_store import ResponsesStore
from gptoss_sim.streaming import Pacer, stream_interval
from gptoss_sim.vllm_config import VllmConfig
from gptoss_sim.vllm_lifecycle import Lifecycle
from gptoss_sim.vllm_protocol import Dialect, tool_call_id


def vllm_tool_call_id() -> str:
    # "chatcmpl-tool-" + 16 hex (gptoss_sim.vllm_protocol.tool_call_id).
    return tool_call_id()


class Generation:
    """The routes that generate, for one server's engine, adapters, dialect and store."""

    def __init__(
        self,
        config: VllmConfig,
        lifecycle: Lifecycle,
        metrics: VllmMetrics,
        loras: LoraRegistry,
        dialect: Dialect,
        store: ResponsesStore,
    ) -> None:
        self.config = config
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.loras = loras
        self.dialect = dialect
        self.store = store

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
        engine = self.lifecycle.ready_engine()
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
        self.lifecycle.ready_engine()
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
        replies = plan_choices(chat.ask, self.config.reply, chat.n)
        return await chat_endpoint.chat(request, chat, replies, serving)

    async def completions(self, request: Request) -> Response:
        self.lifecycle.ready_engine()
        body = await vllm_serving.read_body(request)
        req = vllm_serving.completion_request(body, self.dialect, self.config.reply)
        serving = self._serving()
        serving = self._counting(
            self._cached(
                serving, lambda size: rendered_prompt.completion_hashes(req, size), req.model
            )
        )
        return await completion_endpoint.completion(request, req, serving)

    async def responses(self, request: Request) -> Response:
        self.lifecycle.ready_engine()
        body = await vllm_serving.read_body(request)
        req, max_output, prompt = vllm_responses_serving.responses_request(
            body, self.dialect, self.store
        )
        serving = self._serving()
        date = self._start_date()
        serving = self._counting(
            self._cached(
                serving,
                lambda size: rendered_prompt.responses_hashes(req, prompt, size, date),
                req.model,
            )
        )
        reply = plan(req.ask, self.config.reply)
        return await vllm_responses_serving.serve_response(
            request, req, reply, serving, self.store, max_output, prompt
        )

    async def retrieve_response(self, request: Request) -> Response:
        self.lifecycle.ready_engine()
        return await vllm_responses_serving.retrieve(request, self.store)

    async def cancel_response(self, request: Request) -> Response:
        self.lifecycle.ready_engine()
        return await vllm_responses_serving.cancel(request, self.store)
