"""Starlette glue every simulator shares: turning refusals into responses, the fault controls."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gptoss_sim.errors import SimError
from gptoss_sim.fault_middleware import FaultInjector
from gptoss_sim.faults import FaultSchedule, parse_rule

Handler = Callable[[Request], Awaitable[Response]]
Envelope = Callable[[SimError], tuple[dict[str, Any], dict[str, str]]]


def guarded(handler: Handler, envelope: Envelope) -> Handler:
    """``handler`` with every ``SimError`` it raises rendered in ``envelope``."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except SimError as error:
            body, headers = envelope(error)
            return JSONResponse(
                body, status_code=error.status, headers={**headers, **error.headers}
            )

    return endpoint


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise SimError(400, f"invalid JSON body: {exc}") from exc


def faults_handler(injector: FaultInjector) -> Handler:
    """``PUT /_sim/faults`` with a JSON list of rule strings; ``DELETE`` clears them."""

    async def handler(request: Request) -> Response:
        rules: Any = [] if request.method == "DELETE" else await json_body(request)
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise SimError(400, "expected a JSON list of fault rules")
        injector.set_schedule(FaultSchedule(tuple(parse_rule(r) for r in rules)))
        return JSONResponse({"rules": rules})

    return handler
