"""The Responses API on the request path: state in, the right wire out, state kept.

1. ``Turns.begin`` (``turns.py``) reads what the request needs from the store: a follow-up
   turn (``previous_response_id``, or ``conversation``) becomes one stateless request holding
   every earlier item, sent with ``store: false``, so any pod, replica or provider can serve
   it. The router picks the response id.
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
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from gptoss_router import codec
from gptoss_router.errors import StoreUnavailable
from gptoss_router.openai.chat_stream_to_responses import ChatStreamTranslator
from gptoss_router.openai.chat_to_responses import response_from_chat
from gptoss_router.openai.error_bodies import error_body, error_event
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.replies import Reshape, Usage, reshape_chunk, usage_of
from gptoss_router.openai.responses_events import encode_events
from gptoss_router.openai.responses_state import without_reasoning
from gptoss_router.openai.sse import EventSplitter, event_data
from gptoss_router.openai.vllm_stream import StreamFix
from gptoss_router.proxy.accounting import Ledger
from gptoss_router.proxy.attempt import Opened
from gptoss_router.proxy.tool_checks import ToolCheck
from gptoss_router.proxy.turns import Turn, Turns, own
from gptoss_router.routing.backends import Target

__all__ = ["Turn", "Turns", "Wire", "answer_document", "answer_stream", "wire_for"]

log = logging.getLogger(__name__)

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(frozen=True, slots=True)
class Wire:
    """How one attempt reaches its backend."""

    path: str
    body: bytes
    translated: bool


def wire_for(turn: Turn, target: Target, *, gather: bool = False) -> Wire | None:
    """Native Responses when ``target`` can serve them, else translated; None: neither.
    ``gather``: a whole answer asked for as a stream (``proxy/gather.py``)."""
    capabilities = target.dialect.capabilities
    kw: Any = {"model_id": target.model_id, "dialect": target.dialect, "gather": gather}
    if turn.native.features <= capabilities:
        return Wire("responses", outbound_body(turn.native, turn.native_body, **kw), False)
    if turn.chat is not None and turn.chat.features <= capabilities:
        translated = turn.chat.get()
        if translated is not None:
            return Wire("chat/completions", outbound_body(*translated, **kw), True)
    return None


async def answer_document(
    turns: Turns,
    turn: Turn,
    body: bytes,
    *,
    translated: bool,
    strip: bool,
    check: ToolCheck | None = None,
) -> tuple[int, bytes, Usage | None]:
    """Status, body and usage of a whole answer (503 if it should be kept and cannot be)."""
    try:
        doc = codec.loads(body)
    except (ValueError, RecursionError):
        return 200, body, None
    if not isinstance(doc, dict):
        return 200, body, None
    usage = usage_of(doc)
    response = (
        response_from_chat(doc, turn.echo, response_id=turn.response_id) if translated else doc
    )
    own(turn, response)
    if check is not None:
        check.document(response)
    try:
        await turns.keep(turn, response)
    except StoreUnavailable as err:
        return err.status, _json(error_body(err)), usage
    return 200, _json(without_reasoning(response) if strip else response), usage


class _Relay:
    """Turns the upstream's events into the client's, keeping the response at its end."""

    def __init__(
        self,
        turns: Turns,
        turn: Turn,
        *,
        translated: bool,
        how: Reshape,
        check: ToolCheck | None = None,
        mend: bool = False,
    ) -> None:
        self.turns = turns
        self.turn = turn
        self.how = how
        self.check = check
        self.translator = (
            ChatStreamTranslator(
                turn.echo, response_id=turn.response_id, created_at=turn.created_at
            )
            if translated
            else None
        )
        self.usage: Usage | None = None
        self.finished = False
        self.mend = StreamFix() if mend and self.translator is None else None

    async def event(self, event: bytes) -> bytes:
        """What the client gets for one upstream event."""
        if self.mend is not None:
            event = self.mend.fix(event)
        if self.translator is not None:
            docs = self._translate(event)
        elif not self.how.strip_reasoning and b'"response"' not in event:
            if self.check is not None and b'"response.output_item.done"' in event:
                done = _parse(event_data(event))
                if done is not None:
                    self.check.chunk(done)
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
            if self.check is not None:
                self.check.chunk(doc)
            response = doc.get("response")
            if isinstance(response, dict):
                own(self.turn, response)
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
    check: ToolCheck | None = None,
    mend: bool = False,
) -> AsyncGenerator[bytes, None]:
    """The client's event stream; closes the upstream and the ledger however it ends. Each
    tool call is checked (``check``) at its ``response.output_item.done``; ``mend``: the
    upstream is a vLLM pod whose stream the SDK cannot read as it is (``openai/vllm_stream``)."""
    relay = _Relay(turns, turn, translated=translated, how=how, check=check, mend=mend)
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
        doc = codec.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _json(doc: Mapping[str, Any]) -> bytes:
    return codec.dumps(doc)
