"""Stored Responses and single models over HTTP, and OpenAI-shaped answers for unknown paths.

    GET    /v1/responses/{id}               the stored response (as the app was shown it);
                                            stream=true[&starting_after=N]: a background
                                            response's events again (``replay.py``)
    DELETE /v1/responses/{id}               {"id", "object": "response", "deleted": true}
    GET    /v1/responses/{id}/input_items   the request's input items, a page at a time
    POST   /v1/responses/{id}/cancel        stop a background response (queued or in progress)
    GET    /v1/models/{id}                  one served model

An id another app stored is a 404, like one that never existed. Any other path is
``404 Invalid URL (METHOD /path)`` and a known path with another method a 405, both in OpenAI's
error envelope, as OpenAI's API answers them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gptoss_router.errors import BadRequest, MethodNotAllowed, NotFound, RouterError
from gptoss_router.http.replay import replay, starting_after
from gptoss_router.http.routes import model_card
from gptoss_router.http.state import State
from gptoss_router.openai.error_bodies import error_body
from gptoss_router.openai.responses_state import item_page, page_query, without_reasoning
from gptoss_router.routing.access import App, AppKeys, may_see
from gptoss_router.state.responses import Record

__all__ = ["not_found_handlers", "resource_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def resource_routes(keys: AppKeys) -> list[Route]:
    """Routes for stored responses and single models, authenticated by ``keys``."""

    def guarded(route: str, handler: Callable[[Request, App], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                app = keys.identify(request.headers.get("authorization"), route)
                return await handler(request, app)
            except RouterError as err:
                return JSONResponse(error_body(err), status_code=err.status, headers=err.headers)

        return endpoint

    async def retrieve(request: Request, app: App) -> Response:
        stream = request.query_params.get("stream", "false").lower()
        if stream not in ("true", "1", "false", "0"):
            raise BadRequest(
                f"Invalid 'stream': expected true or false, got '{stream[:40]}'.", param="stream"
            )
        after = starting_after(request.query_params)
        record = await _record(request, app)
        if stream in ("true", "1"):
            return await replay(_state(request), app, record, after)
        response = record.response
        return JSONResponse(without_reasoning(response) if app.strip_reasoning else response)

    async def delete(request: Request, app: App) -> Response:
        response_id = request.path_params["response_id"]
        state = _state(request)
        if not await state.records.delete(app.name, response_id):
            raise _no_response(response_id)
        await state.events.delete(app.name, response_id)  # a streamed background one's events
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    async def input_items(request: Request, app: App) -> Response:
        limit, order, after = page_query(request.query_params)
        record = await _record(request, app)
        return JSONResponse(item_page(record.input, limit=limit, order=order, after=after))

    async def model(request: Request, app: App) -> Response:
        state = _state(request)
        name = request.path_params["model"]
        config = state.shared.backends.models.get(name)
        if config is None or not may_see(app, config):
            raise NotFound(f"The model '{name}' does not exist.", param="model")
        return JSONResponse(model_card(name, config, state.started_at))

    return [
        Route("/v1/responses/{response_id}", guarded("/v1/responses", retrieve), methods=["GET"]),
        Route(
            "/v1/responses/{response_id}",
            guarded("/v1/responses", delete),
            methods=["DELETE"],
            name="delete_response",
        ),
        Route(
            "/v1/responses/{response_id}/input_items",
            guarded("/v1/responses", input_items),
            methods=["GET"],
        ),
        Route(
            "/v1/responses/{response_id}/cancel",
            guarded("/v1/responses", _cancel),
            methods=["POST"],
        ),
        Route("/v1/models/{model:path}", guarded("/v1/models", model), methods=["GET"]),
    ]


async def _cancel(request: Request, app: App) -> Response:
    state = _state(request)
    response_id = request.path_params["response_id"]

    def cancelled(record: Record) -> Record | None:
        """The record cancelled; None (nothing written) when it is cancelled already."""
        response = record.response
        if not response.get("background"):
            raise BadRequest("Only background responses can be cancelled.")
        status = response.get("status")
        if status == "cancelled":
            return None
        if status not in ("queued", "in_progress"):
            raise BadRequest(f"Cannot cancel a response whose status is '{status}'.")
        return Record(record.prior, record.input, {**response, "status": "cancelled"})

    # A compare-and-set: the run finishing at the same moment either wins (and the cancel is
    # refused as too late) or loses (and finds the response cancelled), never both.
    written = await state.records.update(app.name, response_id, cancelled)
    if written is not None:
        if not state.proxy.cancel(response_id):  # another replica runs it: it stops it too
            await state.cancels.tell(response_id)
        await state.events.ring(app.name, response_id)  # its replays end now
        response = written.response
    else:
        response = (await _record(request, app)).response  # cancelled already, or gone: 404
    return JSONResponse(without_reasoning(response) if app.strip_reasoning else response)


def _state(request: Request) -> State:
    state: State = request.app.state.router
    return state


async def _record(request: Request, app: App) -> Record:
    response_id = request.path_params["response_id"]
    found = await _state(request).records.get(app.name, response_id)
    if found is None:
        raise _no_response(response_id)
    return found[0]


def _no_response(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.")


def not_found_handlers() -> dict[int, Callable[[Request, Exception], Awaitable[Response]]]:
    """Starlette's own 404 and 405 as OpenAI's error envelope (JSON, not plain text)."""

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        where = f"{request.method} {request.url.path}"
        err: RouterError
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            err = MethodNotAllowed(f"Method not allowed ({where}).", allow=allow)
        elif exc.status_code == 404:
            err = NotFound(f"Invalid URL ({where})")
        else:
            err = RouterError(str(exc.detail))
            err.status = exc.status_code
        return JSONResponse(error_body(err), status_code=err.status, headers=err.headers)

    return {404: handle, 405: handle}
