"""The Responses API on the request path: state in, the right wire out, state kept.

1. ``Turns.begin`` reads what the request needs from the store: a follow-up turn
   (``previous_response_id``, or ``conversation``) becomes one stateless request holding every
   earlier item, sent with ``store: false``, so any pod, replica or provider can serve it. The
   router picks the response id.
2. ``wire_for`` picks, per backend, its own ``/v1/responses`` when its dialect has every feature
   the request needs, else Chat Completions through the translation (``openai/responses_to_chat``
   and back); the plan already kept only backends that can do one or the other.
3. ``answer_document`` and ``answer_stream`` make the response the router's own (its id, the
   model the client named, ``store`` and ``previous_response_id`` as asked), keep it
   (``store: true``) before the client sees its end, and show it to the client, without
   reasoning for apps that must not see it. A response that cannot be kept is not reported
   as done: 503 for a whole answer, ``error`` and ``response.failed`` for a stream. A turn
   in a conversation appends its input and output items to it when it completes.

A background request (``background: true``) is kept as ``queued`` and run by the request path
after the answer (``Proxy``); a response cancelled meanwhile is never overwritten (``keep``).

While the store is known to be down, requests that read or keep state get 503 with Retry-After
at once; stateless ones (``store: false``, no ``previous_response_id`` and no
``conversation``) are still served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from gptoss_router.errors import BadRequest, PreviousResponseNotFound, StoreUnavailable
from gptoss_router.openai.chat_stream_to_responses import ChatStreamTranslator, encode_events
from gptoss_router.openai.chat_to_responses import response_from_chat
from gptoss_router.openai.conversations import conversation_id_of, no_conversation, turn_items
from gptoss_router.openai.error_bodies import error_body, error_event
from gptoss_router.openai.inbound import Inbound, read_inbound
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.replies import Reshape, Usage, reshape_chunk, usage_of
from gptoss_router.openai.responses_objects import (
    new_response_id,
    response_echo,
    response_object,
)
from gptoss_router.openai.responses_state import (
    client_response,
    stateless_payload,
    stored_items,
    without_reasoning,
)
from gptoss_router.openai.responses_to_chat import chat_request
from gptoss_router.openai.sse import EventSplitter, event_data
from gptoss_router.proxy.accounting import Ledger
from gptoss_router.proxy.attempt import Opened
from gptoss_router.routing.backends import Target
from gptoss_router.state.conversations import ConversationRecords
from gptoss_router.state.responses import Record, ResponseRecords

__all__ = ["Turn", "Turns", "Wire", "answer_document", "answer_stream", "wire_for"]

log = logging.getLogger(__name__)

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(frozen=True, slots=True)
class Turn:
    """One Responses request, made stateless, and what the router keeps of it."""

    app: str
    response_id: str
    store: bool
    previous_id: str | None
    prior: list[dict[str, Any]]  # the earlier turns' items it was rehydrated with
    items: list[dict[str, Any]]  # its own input items
    native: Inbound  # the stateless Responses request (store: false)
    native_body: bytes
    chat: Inbound | None  # the same through Chat Completions, when it can be translated
    chat_body: bytes
    echo: dict[str, Any]  # what a translated response repeats of the request
    created_at: int
    background: bool = False  # the router runs it after answering "queued"
    conversation: str | None = None  # the conversation it continues and is appended to


@dataclass(frozen=True, slots=True)
class Wire:
    """How one attempt reaches its backend."""

    path: str
    body: bytes
    translated: bool


class Turns:
    """Begins turns from the store and keeps their responses in it."""

    def __init__(
        self, records: ResponseRecords, conversations: ConversationRecords | None = None
    ) -> None:
        self.records = records
        self.conversations = conversations

    async def begin(self, app: str, inbound: Inbound, body: bytes) -> Turn:
        """The stateless form of ``inbound``; raises ``PreviousResponseNotFound``,
        ``NotFound`` (conversation), ``StoreUnavailable`` and ``BadRequest`` (a state over the
        size bound)."""
        payload = inbound.payload
        store = payload.get("store", True)
        if store is None:
            store = True
        if not isinstance(store, bool):
            raise BadRequest("Invalid type for 'store': expected a boolean.", param="store")
        previous = payload.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous):
            raise BadRequest(
                "Invalid 'previous_response_id': expected a response id.",
                param="previous_response_id",
            )
        background = payload.get("background") is True
        if background and not store:
            raise BadRequest("Background responses need store: true.", param="background")
        if background and inbound.stream:
            raise BadRequest(
                "Streamed background responses are not supported by this router.",
                param="background",
            )
        conversation = self._conversation_of(payload, previous)
        if store or previous:
            self.records.check_usable()
        prior: list[dict[str, Any]] = []
        size = len(body)
        if conversation is not None:
            prior, size = await self._conversation_items(app, conversation, size)
        if previous:
            found = await self.records.get(app, previous)
            if found is None:
                raise PreviousResponseNotFound(previous)
            record, stored_size = found
            prior = record.history()
            size += stored_size
        if conversation is not None and self.conversations is not None:
            self._check_bound(size, self.conversations.max_bytes, "conversation")
        if store and size > self.records.max_bytes:
            raise BadRequest(
                f"This conversation's stored state would be about {size} bytes, over the "
                f"router's limit of {self.records.max_bytes} bytes "
                "(tuning.responses_max_bytes). Start a new conversation, or send it with "
                "store: false.",
                param="previous_response_id" if previous else "input",
            )
        items = stored_items(payload.get("input"))
        stateless = stateless_payload(payload, prior, items)
        native_body = _json(stateless)
        chat, chat_body = _translated(stateless)
        native = replace(
            read_inbound("responses", native_body),
            fallback_features=chat.features if chat is not None else None,
        )
        return Turn(
            app=app,
            response_id=new_response_id(),
            store=store,
            previous_id=previous,
            prior=prior,
            items=items,
            native=native,
            native_body=native_body,
            chat=chat,
            chat_body=chat_body,
            echo=response_echo(stateless),
            created_at=int(time.time()),
            background=background,
            conversation=conversation,
        )

    def _conversation_of(self, payload: Mapping[str, Any], previous: object) -> str | None:
        conversation = conversation_id_of(payload.get("conversation"))
        if conversation is not None and previous:
            raise BadRequest(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
            )
        return conversation

    async def _conversation_items(
        self, app: str, conversation: str, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The items of ``conversation`` and ``size`` grown by its stored size."""
        found = None
        if self.conversations is not None:
            found = await self.conversations.get(app, conversation)
        if found is None:
            raise no_conversation(conversation, param="conversation")
        return found[0].items, size + found[1]

    @staticmethod
    def _check_bound(size: int, limit: int, param: str) -> None:
        if size > limit:
            raise BadRequest(
                f"This conversation's stored state would be about {size} bytes, over the "
                f"router's limit of {limit} bytes (tuning.responses_max_bytes). Start a new "
                "conversation.",
                param=param,
            )

    async def keep(self, turn: Turn, response: dict[str, Any]) -> None:
        """Keep ``response`` when the request asked for it (``StoreUnavailable`` if it fails).

        A background response cancelled meanwhile stays cancelled."""
        if turn.store:
            if turn.background and response.get("status") != "cancelled":
                found = await self.records.get(turn.app, turn.response_id)
                if found is not None and found[0].response.get("status") == "cancelled":
                    return
            await self.records.put(turn.app, Record(turn.prior, turn.items, response))
        await self._append(turn, response)

    async def _append(self, turn: Turn, response: dict[str, Any]) -> None:
        """Add a finished turn's items to its conversation (unless it was deleted meanwhile)."""
        if turn.conversation is None or self.conversations is None:
            return
        added = turn_items(turn.items, response)
        if not added:
            return
        found = await self.conversations.get(turn.app, turn.conversation)
        if found is None:
            return
        conversation = found[0]
        conversation.items.extend(added)
        # Bounded when the turn began: an answer already made is not thrown away.
        await self.conversations.put(turn.app, conversation, bounded=False)

    def status_of(
        self, turn: Turn, status: str, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The response of ``turn`` before it has output: queued, in progress or failed."""
        response = response_object(
            turn.echo,
            response_id=turn.response_id,
            created_at=turn.created_at,
            status=status,
            output=[],
            usage=None,
            error=error,
        )
        return _own(turn, response)


def _translated(stateless: dict[str, Any]) -> tuple[Inbound | None, bytes]:
    try:
        body = _json(chat_request(stateless))
        return read_inbound("chat", body), body
    except BadRequest:
        return None, b""


def wire_for(turn: Turn, target: Target) -> Wire | None:
    """Native Responses when ``target`` can serve them, else translated; None: neither."""
    capabilities = target.dialect.capabilities
    kw: Any = {"model_id": target.model_id, "dialect": target.dialect}
    if turn.native.features <= capabilities:
        return Wire("responses", outbound_body(turn.native, turn.native_body, **kw), False)
    if turn.chat is not None and turn.chat.features <= capabilities:
        return Wire("chat/completions", outbound_body(turn.chat, turn.chat_body, **kw), True)
    return None


def _own(turn: Turn, response: dict[str, Any]) -> dict[str, Any]:
    client_response(
        response,
        response_id=turn.response_id,
        model=turn.native.model,
        store=turn.store,
        previous_id=turn.previous_id,
    )
    response["background"] = turn.background
    if turn.conversation is not None:
        response["conversation"] = {"id": turn.conversation}
    return response


async def answer_document(
    turns: Turns, turn: Turn, body: bytes, *, translated: bool, strip: bool
) -> tuple[int, bytes, Usage | None]:
    """Status, body and usage of a whole answer (503 if it should be kept and cannot be)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return 200, body, None
    if not isinstance(doc, dict):
        return 200, body, None
    usage = usage_of(doc)
    response = (
        response_from_chat(doc, turn.echo, response_id=turn.response_id) if translated else doc
    )
    _own(turn, response)
    try:
        await turns.keep(turn, response)
    except StoreUnavailable as err:
        return err.status, _json(error_body(err)), usage
    return 200, _json(without_reasoning(response) if strip else response), usage


class _Relay:
    """Turns the upstream's events into the client's, keeping the response at its end."""

    def __init__(self, turns: Turns, turn: Turn, *, translated: bool, how: Reshape) -> None:
        self.turns = turns
        self.turn = turn
        self.how = how
        self.translator = (
            ChatStreamTranslator(
                turn.echo, response_id=turn.response_id, created_at=turn.created_at
            )
            if translated
            else None
        )
        self.usage: Usage | None = None
        self.finished = False

    async def event(self, event: bytes) -> bytes:
        """What the client gets for one upstream event."""
        if self.translator is not None:
            docs = self._translate(event)
        elif not self.how.strip_reasoning and b'"response"' not in event:
            return event  # a delta: passes as it came
        else:
            doc = _parse(event_data(event))
            if doc is None:
                return event
            docs = [doc]
        return await self.docs(docs)

    def _translate(self, event: bytes) -> list[dict[str, Any]]:
        assert self.translator is not None
        data = event_data(event)
        if data == b"[DONE]":
            return self.translator.finish()
        chunk = _parse(data)
        if chunk is None:
            return []
        usage = usage_of(chunk)
        if usage is not None:
            self.usage = usage
        return self.translator.feed(chunk)

    async def fail(self, message: str) -> bytes:
        """The end of a stream the upstream broke off."""
        if self.translator is not None:
            return await self.docs(self.translator.fail(message))
        return error_event(message, responses=True)

    async def docs(self, docs: list[dict[str, Any]]) -> bytes:
        out: list[dict[str, Any]] = []
        for doc in docs:
            response = doc.get("response")
            if isinstance(response, dict):
                _own(self.turn, response)
                if self.translator is None and (usage := usage_of(doc)) is not None:
                    self.usage = usage
            if doc.get("type") in _TERMINAL and isinstance(response, dict):
                self.finished = True
                out.extend(await self._kept(doc, response))
                continue
            out.append(doc)
        shown = [d for d in (reshape_chunk(doc, self.how) for doc in out) if d is not None]
        return encode_events(shown)

    async def _kept(self, doc: dict[str, Any], response: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            await self.turns.keep(self.turn, response)
        except StoreUnavailable as err:
            if doc.get("type") == "response.failed":
                return [doc]
            log.warning("response %s could not be kept: %s", self.turn.response_id, err.message)
            seq = doc.get("sequence_number")
            seq = seq if isinstance(seq, int) else 0
            failed = {
                **response,
                "status": "failed",
                "error": {"code": "server_error", "message": err.message},
            }
            return [
                {
                    "type": "error",
                    "sequence_number": seq,
                    "code": "store_unavailable",
                    "message": err.message,
                    "param": None,
                },
                {"type": "response.failed", "sequence_number": seq + 1, "response": failed},
            ]
        return [doc]


async def answer_stream(
    turns: Turns,
    turn: Turn,
    opened: Opened,
    ledger: Ledger,
    *,
    translated: bool,
    how: Reshape,
    idle_s: float,
) -> AsyncGenerator[bytes, None]:
    """The client's event stream; closes the upstream and the ledger however it ends."""
    relay = _Relay(turns, turn, translated=translated, how=how)
    splitter = EventSplitter()
    outcome = "ok"
    chunk = opened.first
    content = opened.response.content
    try:
        while True:
            out = b"".join([await relay.event(e) for e in splitter.feed(chunk)])
            if out:
                yield out
            if relay.finished:
                break
            async with asyncio.timeout(idle_s):
                chunk = await content.readany()
            if not chunk:
                break
        if not relay.finished:
            outcome = "interrupted"
            yield await relay.fail("The upstream ended the stream early.")
    except TimeoutError:
        outcome = "interrupted"
        yield await relay.fail("The upstream stopped sending.")
    except aiohttp.ClientError:
        outcome = "interrupted"
        yield await relay.fail("The upstream connection broke.")
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        ledger.close(outcome, relay.usage)
        if outcome == "ok":
            opened.response.release()
        else:
            opened.response.close()


def _parse(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
