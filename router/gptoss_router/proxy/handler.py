"""The request path: authenticate, check, plan, try candidates in order, relay the winner.

Failover happens only before the first byte goes to the client; once an attempt is committed
(``upstream.attempt``) its answer is the answer. Attempts are bounded by ``max_attempts`` and
by the shared retry budget. A plan that holds waits for a local pod first (``holding``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

import aiohttp
from starlette.types import Receive, Scope

from gptoss_router.errors import ClientLeft, ModelNotFound, NoBackend, RouterError, UpstreamFailed
from gptoss_router.openai.error_bodies import error_body
from gptoss_router.openai.inbound import Route, read_inbound
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.proxy.accounting import Ledger, Shared
from gptoss_router.proxy.answers import respond, respond_turn
from gptoss_router.proxy.asgi import Streamed, Whole, read_body, read_headers
from gptoss_router.proxy.attempt import Rejected
from gptoss_router.proxy.background import BackgroundRuns
from gptoss_router.proxy.calls import Call, Request
from gptoss_router.proxy.gather import gathers
from gptoss_router.proxy.hedging import Answered, Attempts
from gptoss_router.proxy.leaving import disconnected, never_leaves
from gptoss_router.proxy.responses import (
    Turns,
    Wire,
    wire_for,
)
from gptoss_router.proxy.tool_checks import ToolCheck
from gptoss_router.proxy.turn import Turn
from gptoss_router.routing.access import AppKeys, limits_for
from gptoss_router.routing.admission import Admission, Ticket
from gptoss_router.routing.backends import Target
from gptoss_router.routing.holding import Holds, nothing_to_try
from gptoss_router.routing.policy import Candidate, Plan

__all__ = ["Proxy"]

log = logging.getLogger(__name__)

_PATHS: dict[Route, str] = {
    "chat": "chat/completions",
    "completions": "completions",
    "responses": "responses",
}


class Proxy:
    """Serves the three generating routes over the shared state."""

    def __init__(
        self, shared: Shared, keys: AppKeys, session: aiohttp.ClientSession, turns: Turns
    ) -> None:
        self._shared = shared
        self._turns = turns
        self._admission: Admission = shared.admission
        self._keys = keys
        self._session = session
        self._settings = shared.backends.settings
        self._connect = aiohttp.ClientTimeout(
            total=None, connect=self._settings.tuning.connect_timeout_s
        )
        self.holds = Holds(shared.backends.wakeup, shared.metrics, self._settings.tuning)
        self.background = BackgroundRuns(turns, self._admission, self._run_call)

    def cancel(self, response_id: str) -> bool:
        """Stop the background response ``response_id`` if this replica runs it."""
        return self.background.cancel(response_id)

    async def stop_background(self) -> None:
        """Stop the background responses this replica runs (shutdown)."""
        await self.background.stop()

    async def _run_call(self, route: Route, request: Request, ticket: Ticket) -> Whole | Streamed:
        """A background response's request, from its plan to its answer."""
        started = time.perf_counter()
        call = await self._prepare(request, ticket, never_leaves)
        return await self._dispatch(route, call, started, never_leaves)

    async def handle(self, route: Route, scope: Scope, receive: Receive) -> Whole | Streamed:
        """Answer one request on ``route``. A conversation turn's lock is given back once its
        answer has ended: here for a whole one, when a stream ends, when a background run
        ends."""
        started = time.perf_counter()
        model = "unknown"
        ticket: Ticket | None = None
        turn: Turn | None = None
        handed_on = False  # the turn's lock is given back by whoever now runs its answer
        ledgered = False  # from its first attempt on, the request's ledger counts it
        try:
            request = await self._read(route, scope, receive)
            model, turn = request.inbound.model, request.turn
            if turn is not None and turn.background:
                queued = await self.background.start(route, request, turn)
                handed_on = True
                return queued
            ticket = await self._admission.admit(request.app.name, request.reserve)
            call = await self._prepare(request, ticket, receive)
            ledgered = True
            answer = await self._dispatch(route, call, started, receive)
            if isinstance(answer, Streamed) and turn is not None and turn.lock is not None:
                handed_on = True
                return dataclasses.replace(answer, ended=turn.unlock)
            return answer
        except RouterError as err:
            model = err.model or model
            if not ledgered and not isinstance(err, UpstreamFailed | NoBackend):
                self._shared.metrics.requests.labels(route, model, "none", _outcome(err)).inc()
            headers = {**ticket.headers, **err.headers} if ticket is not None else err.headers
            return Whole(err.status, _json(error_body(err)), headers)
        except Exception:
            # A bug, not the caller's fault: still an OpenAI-shaped answer, and logged once.
            log.exception("unexpected error on %s", route)
            if not ledgered:
                self._shared.metrics.requests.labels(route, model, "none", "upstream_error").inc()
            return Whole(500, _json(error_body(RouterError("The router failed."))), {})
        finally:
            if turn is not None and not handed_on:
                await turn.unlock()

    async def _read(self, route: Route, scope: Scope, receive: Receive) -> Request:
        headers = read_headers(scope)
        app = self._keys.identify(headers.get("authorization"), scope["path"])
        tuning = self._settings.tuning
        body = await read_body(receive, headers, tuning.max_body_bytes, tuning.body_timeout_s)
        inbound = read_inbound(route, body)
        model = self._shared.backends.models.get(inbound.model)
        if model is None:
            raise ModelNotFound(f"The model '{inbound.model}' does not exist.", param="model")
        limits = limits_for(app, model, headers, inbound.model)
        turn = None
        if route == "responses":
            turn = await self._turns.begin(app.name, inbound, body)
            inbound, body = turn.native, turn.native_body
        reserve = inbound.input_tokens + inbound.most_output(model.default_output_tokens)
        return Request(app, headers, body, inbound, model, limits, reserve, turn)

    async def _prepare(self, request: Request, ticket: Ticket, receive: Receive) -> Call:
        inbound = request.inbound
        try:
            plan = self._shared.backends.plan_for(inbound, request.model, request.limits)
            if plan.hold:
                plan = await self.holds.hold(
                    inbound.model, lambda: self._plan(request), receive, plan
                )
        except BaseException:
            self._admission.settle(ticket, input_tokens=0, output_tokens=0, dollars=0.0)
            raise
        strip = request.app.strip_reasoning
        return Call(inbound, request.body, strip, plan, ticket, request.turn)

    def _plan(self, request: Request) -> Plan:
        """Plan again after a wait: the model's configuration may have changed meanwhile."""
        model = self._shared.backends.models.get(request.inbound.model)
        if model is None:  # the cluster stopped serving it while the request was held
            raise ModelNotFound(
                f"The model '{request.inbound.model}' does not exist.", param="model"
            )
        limits = limits_for(request.app, model, request.headers, request.inbound.model)
        return self._shared.backends.plan_for(request.inbound, model, limits)

    async def _dispatch(
        self, route: Route, call: Call, started: float, receive: Receive
    ) -> Whole | Streamed:
        inbound, tuning = call.inbound, self._settings.tuning
        ledger = Ledger(
            self._shared,
            route=route,
            model=inbound.model,
            started=started,
            ticket=call.ticket,
            input_tokens=inbound.input_tokens,
        )
        # A caller that leaves before the answer starts cancels the upstream request (vLLM
        # aborts a request whose connection closes), instead of letting it run to the end.
        left = asyncio.ensure_future(disconnected(receive))
        gather = tuning.gather_streams and gathers(call)

        def resolve(candidate: Candidate) -> tuple[Target, Wire, str] | None:
            target = self._shared.backends.target(candidate, inbound.model)
            wire = None if target is None else self._wire(route, call, target, gather)
            if target is None or wire is None:  # gone, or it cannot take this request
                return None
            return target, wire, "chat" if wire.translated else route

        attempts = Attempts(
            session=self._session,
            connect=self._connect,
            tuning=tuning,
            ledger=ledger,
            tails=self._shared.backends.tails,
            inbound=inbound,
            gather=gather,
            candidates=call.plan.candidates[: tuning.max_attempts],
            resolve=resolve,
            left=left,
        )
        try:
            ended = await attempts.run()
            if ended is None:
                ledger.close("cancelled")
                gone = ClientLeft("The client disconnected.", model=inbound.model)
                return Whole(gone.status, _json(error_body(gone)), {})
            if isinstance(ended, Answered):
                return await self._answer(call, ended, ledger)
        except BaseException as err:
            # Cancelled (a background response, a replica stopping) or a bug: the attempts
            # under way, if any, ended with it and gave their in-flight counts back. The ledger
            # counts the request, once, with the outcome its caller is answered with.
            ledger.close(_outcome(err))
            raise
        finally:
            left.cancel()
        last = ended.last
        ledger.close("no_backend" if last is None else "upstream_error")
        if last is None:
            raise nothing_to_try(inbound.model, call.plan.back_in_s)
        failure = last[1]
        raise UpstreamFailed(
            failure.message, status=failure.status, retry_after=failure.retry_after
        )

    async def _answer(self, call: Call, answered: Answered, ledger: Ledger) -> Whole | Streamed:
        """The caller's answer from the attempt that answered."""
        inbound, trial, result = call.inbound, answered.trial, answered.result
        target = trial.target
        if isinstance(result, Rejected):  # the caller's fault: no mark, no speed
            ledger.refused(trial)
        else:
            spill = call.plan.spill or _spill_reason(answered)
            ledger.served(trial, ttft_s=result.ttft_s, spill=spill, stream=inbound.stream)
            if answered.hedge:
                self._shared.metrics.hedge_wins.labels(target.label).inc()
        self._shared.backends.served(call.plan, target)
        check = ToolCheck.of(self._shared, inbound, target)
        idle_s = self._settings.tuning.idle_timeout_s
        if call.turn is not None:
            return await respond_turn(
                self._turns,
                call,
                call.turn,
                target,
                result,
                ledger,
                answered.wire,
                idle_s=idle_s,
                check=check,
            )
        return respond(call, target, result, ledger, idle_s=idle_s, check=check)

    @staticmethod
    def _wire(route: Route, call: Call, target: Target, gather: bool) -> Wire | None:
        if call.turn is not None:
            return wire_for(call.turn, target, gather=gather)
        body = outbound_body(
            call.inbound, call.body, model_id=target.model_id, dialect=target.dialect, gather=gather
        )
        return Wire(_PATHS[route], body, translated=False)


def _outcome(err: BaseException) -> str:
    """The outcome a request that ended with ``err`` is counted as."""
    if isinstance(err, ClientLeft) or not isinstance(err, Exception):
        return "cancelled"
    if isinstance(err, RouterError) and not isinstance(err, UpstreamFailed):
        return "client_error" if err.status < 500 else "no_backend"
    return "upstream_error"  # the last attempt failed, or a bug: answered 500


def _spill_reason(answered: Answered) -> str | None:
    """Why a request the plan meant for a local pod was served by a provider: an earlier
    attempt failed, or the provider answered a hedge for a slow one."""
    if answered.after_failure:
        return "unavailable"
    return "slow" if answered.hedge else None


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
