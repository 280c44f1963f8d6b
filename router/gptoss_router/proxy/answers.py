"""The answer the caller gets once an attempt committed: relayed as is, or a Responses turn
that the router stores on the way (``responses.py``)."""

from __future__ import annotations

import json
from functools import partial

from gptoss_router.openai.replies import Reshape
from gptoss_router.proxy.accounting import Ledger
from gptoss_router.proxy.asgi import Streamed, Whole
from gptoss_router.proxy.attempt import Opened, Rejected
from gptoss_router.proxy.calls import Call
from gptoss_router.proxy.relay import relay_document, relay_stream
from gptoss_router.proxy.responses import Turn, Turns, Wire, answer_document
from gptoss_router.proxy.responses_stream import answer_stream
from gptoss_router.proxy.tool_checks import ToolCheck
from gptoss_router.routing.backends import Target

__all__ = ["respond", "respond_turn"]


async def respond_turn(
    turns: Turns,
    call: Call,
    turn: Turn,
    target: Target,
    result: Opened | Rejected,
    ledger: Ledger,
    wire: Wire,
    *,
    idle_s: float,
    check: ToolCheck | None = None,
) -> Whole | Streamed:
    if isinstance(result, Rejected):
        ledger.close("client_error")
        return Whole(result.status, _json(result.body), call.ticket.headers)
    headers = {**call.ticket.headers, "x-gptoss-backend": target.label}
    if not call.inbound.stream:
        status, body, usage = await answer_document(
            turns,
            turn,
            result.first,
            translated=wire.translated,
            strip=call.strip_reasoning,
            check=check,
        )
        ledger.close("ok", usage)
        if status != 200:
            headers["retry-after"] = "1"
        return Whole(status, body, headers)
    how = Reshape(
        route="responses",
        model=target.answers_as or call.inbound.model,
        backend_model=call.inbound.model if wire.translated else target.model_id,
        reasoning_out="reasoning",
        strip_reasoning=call.strip_reasoning,
        keep_usage_chunk=True,
    )
    stream = answer_stream(
        turns,
        turn,
        result,
        ledger,
        translated=wire.translated,
        how=how,
        idle_s=idle_s,
        check=check,
        mend=target.dialect.mend_responses_stream,
    )
    return Streamed(stream, headers, abandoned=partial(_never_sent, result, ledger))


def respond(
    call: Call,
    target: Target,
    result: Opened | Rejected,
    ledger: Ledger,
    *,
    idle_s: float,
    check: ToolCheck | None = None,
) -> Whole | Streamed:
    if isinstance(result, Rejected):
        ledger.close("client_error")
        return Whole(result.status, _json(result.body), call.ticket.headers)
    how = Reshape(
        route=call.inbound.route,
        model=target.answers_as or call.inbound.model,
        backend_model=target.model_id,
        reasoning_out=target.dialect.reasoning_out,
        strip_reasoning=call.strip_reasoning,
        keep_usage_chunk=call.inbound.wants_usage,
    )
    headers = {**call.ticket.headers, "x-gptoss-backend": target.label}
    if not call.inbound.stream:
        body, usage = relay_document(result.first, how, check)
        ledger.close("ok", usage)
        return Whole(200, body, headers)
    stream = relay_stream(result, how, ledger, idle_s=idle_s, check=check)
    return Streamed(stream, headers, abandoned=partial(_never_sent, result, ledger))


def _never_sent(opened: Opened, ledger: Ledger) -> None:
    """The stream's generator never started (it closes both itself once it has): count the
    request cancelled and close the upstream response it never read."""
    if ledger.closed:
        return
    ledger.close("cancelled")
    opened.response.close()


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
