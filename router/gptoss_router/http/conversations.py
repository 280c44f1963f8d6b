"""The Conversations API over HTTP, kept by the router in its shared store.

    POST   /v1/conversations                          create (``items`` up to 20, ``metadata``)
    GET    /v1/conversations/{id}                     the conversation object
    POST   /v1/conversations/{id}                     replace its ``metadata``
    DELETE /v1/conversations/{id}                     {"id", "object": "conversation.deleted", …}
    POST   /v1/conversations/{id}/items               add items (up to 20): the list added
    GET    /v1/conversations/{id}/items               a page: ``limit``, ``order``, ``after``
    GET    /v1/conversations/{id}/items/{item_id}     one item
    DELETE /v1/conversations/{id}/items/{item_id}     remove it: the conversation object

They need a key of an app allowed ``/v1/responses``. Another app's conversation is a 404, like
one that never existed; apps with ``strip_reasoning`` are not shown reasoning items (which are
kept, and sent to the backend on the conversation's next turn). ``include`` is accepted and
changes nothing: items are kept whole. Adding or removing items while a turn of the
conversation runs is a 400 ``conversation_locked``, as a second turn is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gptoss_router.errors import BadRequest, RouterError, TooLarge
from gptoss_router.openai.conversations import (
    add_items,
    conversation_object,
    deleted_object,
    find_item,
    item_list,
    metadata_of,
    new_conversation_id,
    new_items,
    no_conversation,
    no_item,
    visible,
)
from gptoss_router.openai.error_bodies import error_body
from gptoss_router.openai.responses_state import item_page, page_query
from gptoss_router.routing.access import App, AppKeys
from gptoss_router.state.conversations import Conversation, ConversationRecords

__all__ = ["conversation_routes"]

T = TypeVar("T")
Handler = Callable[[Request, App], Awaitable[Response]]
_ROUTE = "/v1/responses"  # the apps allowed the Responses API may keep conversations


def conversation_routes(keys: AppKeys) -> list[Route]:
    """Routes of the Conversations API, authenticated by ``keys``."""

    def guarded(handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                app = keys.identify(request.headers.get("authorization"), _ROUTE)
                # Starlette adds HEAD to a GET route: answered as the GET (without its body)
                method = "GET" if request.method == "HEAD" else request.method
                return await handlers[method](request, app)
            except RouterError as err:
                return JSONResponse(error_body(err), status_code=err.status, headers=err.headers)

        return endpoint

    def route(path: str, handlers: dict[str, Handler]) -> Route:
        return Route(path, guarded(handlers), methods=list(handlers))

    return [
        route("/v1/conversations", {"POST": _create}),
        route(
            "/v1/conversations/{conversation_id}",
            {"GET": _retrieve, "POST": _update, "DELETE": _delete},
        ),
        route("/v1/conversations/{conversation_id}/items", {"GET": _list, "POST": _add}),
        route(
            "/v1/conversations/{conversation_id}/items/{item_id}",
            {"GET": _item, "DELETE": _delete_item},
        ),
    ]


async def _create(request: Request, app: App) -> Response:
    body = await _body(request)
    records = _records(request)
    metadata = metadata_of(body.get("metadata"))
    items = new_items(body.get("items"), required=False)
    meta = conversation_object(new_conversation_id(), int(time.time()), metadata)
    await records.create(app.name, Conversation(meta, items))
    return JSONResponse(meta)


async def _retrieve(request: Request, app: App) -> Response:
    return JSONResponse((await _conversation(request, app)).meta)


async def _update(request: Request, app: App) -> Response:
    body = await _body(request)
    if "metadata" not in body:
        raise BadRequest("Missing required parameter: 'metadata'.", param="metadata")
    metadata = metadata_of(body["metadata"])

    def change(conversation: Conversation) -> None:
        conversation.meta["metadata"] = metadata

    conversation, _ = await _change(request, app, change, bounded=False)
    return JSONResponse(conversation.meta)


async def _delete(request: Request, app: App) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _records(request).delete(app.name, conversation_id):
        raise no_conversation(conversation_id)
    return JSONResponse(deleted_object(conversation_id))


async def _add(request: Request, app: App) -> Response:
    body = await _body(request)
    items = new_items(body.get("items"), required=True)
    await _change_between_turns(
        request, app, lambda conversation: add_items(conversation.items, items)
    )
    return JSONResponse(item_list(visible(items, strip_reasoning=app.strip_reasoning)))


async def _list(request: Request, app: App) -> Response:
    limit, order, after = page_query(request.query_params)
    conversation = await _conversation(request, app)
    items = visible(conversation.items, strip_reasoning=app.strip_reasoning)
    within = f"conversation '{conversation.id}'"
    return JSONResponse(item_page(items, limit=limit, order=order, after=after, within=within))


async def _item(request: Request, app: App) -> Response:
    conversation = await _conversation(request, app)
    return JSONResponse(conversation.items[_index(request, app, conversation)])


async def _delete_item(request: Request, app: App) -> Response:
    def change(conversation: Conversation) -> None:
        del conversation.items[_index(request, app, conversation)]

    conversation, _ = await _change_between_turns(request, app, change, bounded=False)
    return JSONResponse(conversation.meta)


async def _change_between_turns(
    request: Request, app: App, change: Callable[[Conversation], T], *, bounded: bool = True
) -> tuple[Conversation, T]:
    """``change`` the conversation's items under its lock, as a turn does: 400
    ``conversation_locked`` while a turn runs (a turn appends its items after those it was
    answered with, so none may come or go meanwhile), and a turn that starts during the change
    is refused the same way. Taking the lock reads the conversation in the same round trip."""
    records, conversation_id = _records(request), request.path_params["conversation_id"]
    taken = await records.edit_lock(app.name, conversation_id)
    if taken is None:
        raise no_conversation(conversation_id)
    lock, read = taken
    try:
        done = await records.update(app.name, conversation_id, change, bounded=bounded, known=read)
    finally:
        await lock.release()
    if done is None:
        raise no_conversation(conversation_id)
    return done


def _index(request: Request, app: App, conversation: Conversation) -> int:
    item_id = request.path_params["item_id"]
    items = conversation.items
    index = find_item(items, item_id)
    if index is None or not visible([items[index]], strip_reasoning=app.strip_reasoning):
        raise no_item(item_id)
    return index


def _records(request: Request) -> ConversationRecords:
    records: ConversationRecords = request.app.state.conversations
    return records


async def _conversation(request: Request, app: App) -> Conversation:
    conversation_id = request.path_params["conversation_id"]
    found = await _records(request).get(app.name, conversation_id)
    if found is None:
        raise no_conversation(conversation_id)
    return found[0]


async def _change(
    request: Request, app: App, change: Callable[[Conversation], T], *, bounded: bool = True
) -> tuple[Conversation, T]:
    conversation_id = request.path_params["conversation_id"]
    done = await _records(request).update(app.name, conversation_id, change, bounded=bounded)
    if done is None:
        raise no_conversation(conversation_id)
    return done


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is an empty object)."""
    limit: int = request.app.state.router.settings.tuning.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The request body is over the router's limit of {limit} bytes.")
    raw = await request.body()
    if len(raw) > limit:
        raise TooLarge(f"The request body is over the router's limit of {limit} bytes.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body
