"""A simulated hosted provider: its routes under its own base path, its refusals and limits.

    ProviderSim(ProviderConfig(GROQ))       serves /openai/v1/...   (Groq's base path)
    ProviderSim(ProviderConfig(FIREWORKS))  serves /inference/v1/...
    ProviderSim(ProviderConfig(TOGETHER))   serves /v1/...

Replies come at the provider's published speed (``ttft_s`` then ``tokens_per_s``) times
``time_scale`` (0 answers at once). With ``ttft_sigma`` the time to first token of each request
is drawn from a log-normal whose median is ``ttft_s`` (from ``seed``): a hosted platform's first
tokens spread with its load and the queue a request meets, so the mean hides a tail that a
router's hedging and ranking must face. ``PUT|DELETE /_sim/faults`` sets fault rules.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gptoss_sim import chat_endpoint, completion_endpoint, endpoints, responses_endpoint
from gptoss_sim.chat_format import ChatStyle
from gptoss_sim.chat_request import parse_chat
from gptoss_sim.clock import Clock, MonotonicClock
from gptoss_sim.completions import parse_completion
from gptoss_sim.errors import SimError, openai_envelope
from gptoss_sim.fault_middleware import FaultInjector, FaultMiddleware
from gptoss_sim.faults import FaultRule, FaultSchedule
from gptoss_sim.providers import limits, rules
from gptoss_sim.providers.profiles import Limits, ProviderProfile
from gptoss_sim.reply import ReplyParams, plan, plan_choices
from gptoss_sim.responses_api import parse_responses
from gptoss_sim.routing import faults_handler, guarded, json_body

STORED_RESPONSES = 256


@dataclass(frozen=True)
class ProviderConfig:
    profile: ProviderProfile
    limits: Limits | None = None
    time_scale: float = 1.0
    reply: ReplyParams = field(default_factory=ReplyParams)
    faults: tuple[FaultRule, ...] = ()
    ttft_sigma: float = 0.0  # of the log-normal each request's time to first token is drawn from
    seed: int = 0


def groq_envelope(error: SimError) -> dict[str, Any]:
    """Groq: ``{"error": {"message", "type", "code"}}`` (docs/sources.md, Providers)."""
    body: dict[str, Any] = {"message": error.message, "type": error.type or "invalid_request_error"}
    if error.param is not None:
        body["param"] = error.param
    body["code"] = error.code
    return {"error": body}


class ProviderSim:
    """One simulated hosted provider. ``build_app()`` gives its ASGI app."""

    def __init__(self, config: ProviderConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.profile = config.profile
        self.limits = config.limits or config.profile.limits
        self.api_prefix = config.profile.api_prefix
        self.clock = clock or MonotonicClock()
        self.faults = FaultInjector(self.clock, FaultSchedule(config.faults))
        self.ledger = limits.Ledger()
        self.in_flight = 0
        self._stored: dict[str, tuple[dict[str, Any], int]] = {}
        self._rng = random.Random(f"ttft/{config.profile.kind}/{config.seed}")  # noqa: S311

    def ttft_s(self) -> float:
        """This request's time to first token, before ``time_scale``."""
        sigma = self.config.ttft_sigma
        if sigma <= 0:
            return self.profile.ttft_s
        return self.profile.ttft_s * math.exp(self._rng.gauss(0.0, sigma))

    def release(self) -> None:
        self.faults.release_hangs()

    def envelope(self, error: SimError) -> tuple[dict[str, Any], dict[str, str]]:
        if self.profile.kind == "groq":
            return groq_envelope(error), {}
        return openai_envelope(error), {}

    # -- admission -------------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SimError(
                401, "Invalid API Key", type_="invalid_request_error", code="invalid_api_key"
            )

    def _check_model(self, model: str) -> None:
        if model not in self.profile.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            raise SimError(404, message, type_="invalid_request_error", code="model_not_found")

    def _admit(self, tokens: int, *, flex: bool) -> dict[str, str]:
        """Count the request against the limits; raise the provider's refusal if it is over."""
        now, horizon = (
            self.clock.now(),
            max(self.limits.request_window_s, self.limits.token_window_s),
        )
        used = limits.usage(self.ledger, now, self.limits)
        refusal = limits.admit(
            self.profile.kind, self.limits, used, tokens, self.in_flight, flex=flex
        )
        if refusal is not None:
            refusal.headers = {
                **limits.headers(self.profile.kind, self.limits, used),
                **refusal.headers,
            }
            raise refusal
        self.ledger = self.ledger.add(now, tokens, horizon)
        self.in_flight += 1
        return limits.headers(
            self.profile.kind, self.limits, limits.usage(self.ledger, now, self.limits)
        )

    # -- generation ------------------------------------------------------------------------

    def _serving(self, headers: dict[str, str], style: ChatStyle) -> endpoints.Serving:
        scale, profile, clock = self.config.time_scale, self.profile, self.clock

        async def pacer(prompt_tokens: int, output_tokens: int) -> AsyncIterator[int]:
            if scale <= 0:
                yield output_tokens
                return
            await clock.sleep(self.ttft_s() * scale)
            for count in range(1, output_tokens + 1):
                await clock.sleep(scale / profile.tokens_per_s)
                yield count

        def finished(reason: str) -> None:
            self.in_flight -= 1

        return endpoints.Serving(
            pacer=pacer,
            style=style,
            tool_call_id=lambda: f"call_{uuid.uuid4().hex[:24]}",
            stream_error=lambda exc: self.envelope(SimError(500, str(exc)))[0],
            on_finish=finished,
            headers=lambda: dict(headers),
        )

    def _style(self, body: dict[str, Any]) -> ChatStyle:
        style = ChatStyle(reasoning_field=self.profile.reasoning_field)
        if self.profile.kind == "groq":
            # Groq: reasoning_format parsed/raw/hidden, include_reasoning
            # (docs/sources.md, Providers).
            if body.get("reasoning_format") == "hidden" or body.get("include_reasoning") is False:
                return replace(style, reasoning_field=None)
            if body.get("reasoning_format") == "raw":
                return replace(style, raw_reasoning=True)
        return style

    async def chat(self, request: Request) -> Response:
        self._authorize(request)
        body = await json_body(request)
        chat = parse_chat(body)
        self._check_model(chat.model)
        rules.check_chat(self.profile.kind, chat.body)
        replies = plan_choices(chat.ask, self.config.reply, chat.n)
        flex = chat.body.get("service_tier") == "flex"
        generated = sum(reply.completion_tokens for reply in replies)
        headers = self._admit(chat.prompt_tokens + generated, flex=flex)
        serving = self._serving(headers, self._style(body))
        return await chat_endpoint.chat(request, chat, replies, serving)

    async def completions(self, request: Request) -> Response:
        self._authorize(request)
        req = parse_completion(await json_body(request), self.config.reply)
        self._check_model(req.model)
        generated = sum(reply.completion_tokens for reply in req.replies)
        headers = self._admit(req.prompt_tokens + generated, flex=False)
        serving = self._serving(headers, ChatStyle())
        return await completion_endpoint.completion(request, req, serving)

    async def responses(self, request: Request) -> Response:
        self._authorize(request)
        req = parse_responses(await json_body(request))
        self._check_model(req.model)
        rules.check_responses(self.profile.kind, self.profile.responses_stateful, req.body)
        history = 0
        if req.previous_response_id:
            if req.previous_response_id not in self._stored:
                raise SimError(
                    404,
                    f"Response {req.previous_response_id} not found",
                    param="previous_response_id",
                )
            history = self._stored[req.previous_response_id][1]
        req = replace(req, prompt_tokens=req.prompt_tokens + history)
        reply = plan(req.ask, self.config.reply)
        headers = self._admit(req.prompt_tokens + reply.completion_tokens, flex=False)
        serving = self._serving(headers, ChatStyle())
        response, builder = await responses_endpoint.response(
            request, req, reply, serving, int(time.time())
        )
        # Fireworks stores responses by default (``store``), for previous_response_id.
        if self.profile.responses_stateful and req.body.get("store", True) and not req.stream:
            whole = builder.whole(status="completed", usage=None)
            self._stored[builder.id] = (whole, req.prompt_tokens + reply.completion_tokens)
            while len(self._stored) > STORED_RESPONSES:
                self._stored.pop(next(iter(self._stored)))
        return response

    async def get_response(self, request: Request) -> Response:
        self._authorize(request)
        stored = self._stored.get(request.path_params["response_id"])
        if stored is None:
            raise SimError(404, "Response not found", type_="invalid_request_error")
        return JSONResponse(stored[0])

    async def models(self, request: Request) -> Response:
        self._authorize(request)
        created = int(time.time())
        data = [
            {"id": model, "object": "model", "created": created, "owned_by": self.profile.kind}
            for model in self.profile.models
        ]
        return JSONResponse({"object": "list", "data": data})

    def build_app(self) -> ASGIApp:
        p, env = self.api_prefix, self.envelope
        routes = [
            Route(f"{p}/chat/completions", guarded(self.chat, env), methods=["POST"]),
            Route(f"{p}/completions", guarded(self.completions, env), methods=["POST"]),
            Route(f"{p}/responses", guarded(self.responses, env), methods=["POST"]),
            Route(f"{p}/models", guarded(self.models, env), methods=["GET"]),
            Route(
                "/_sim/faults", guarded(faults_handler(self.faults), env), methods=["PUT", "DELETE"]
            ),
        ]
        if self.profile.responses_stateful:
            routes.append(
                Route(
                    f"{p}/responses/{{response_id}}",
                    guarded(self.get_response, env),
                    methods=["GET"],
                )
            )
        return FaultMiddleware(Starlette(routes=routes), self.faults, env)
