"""A Responses answer streamed to the client: the upstream's events relayed (or translated
from Chat Completions), the response made the router's own and kept at its end, and a stream
the upstream breaks off ended with ``error`` and a kept ``response.failed``
(``proxy/responses.py`` has the whole picture).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from gptoss_router.errors import Conflict, StoreUnavailable
from gptoss_router.openai.chat_stream_to_responses import ChatStreamTranslator
from gptoss_router.openai.error_bodies import error_event
from gptoss_router.openai.replies import Reshape, Usage, reshape_chunk, usage_of
from gptoss_router.openai.responses_events import encode_events, failure_events
from gptoss_router.openai.sse import event_data
from gptoss_router.openai.vllm_stream import StreamFix
from gptoss_router.proxy.accounting import Ledger
from gptoss_router.proxy.attempt import Opened
from gptoss_router.proxy.responses import parsed, terminal
from gptoss_router.proxy.tool_checks import ToolCheck
from gptoss_router.proxy.turns import Turn, Turns, own

__all__ = ["answer_stream"]

log = logging.getLogger(__name__)

_SEQUENCE = re.compile(rb'"sequence_number"\s*:\s*(\d+)')


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
        self.failed = False  # the backend ended it with response.failed (its own, or in-band)
        self.mend = StreamFix() if mend and self.translator is None else None
        self.latest: dict[str, Any] | None = None  # the last response object the stream showed
        self.events = 0  # relayed so far: the next one's sequence number, counted from 0
        self.last_seq = -1  # the highest sequence number an event carried so far

    async def event(self, event: bytes) -> bytes:
        """What the client gets for one upstream event."""
        self.events += 1
        if self.mend is not None:
            event = self.mend.fix(event)
        if self.translator is not None:
            docs = self._translate(event)
        elif not self.how.strip_reasoning and b'"response"' not in event:
            if self.check is not None and b'"response.output_item.done"' in event:
                done = parsed(event_data(event))
                if done is not None:
                    self.check.chunk(done)
            numbered = _SEQUENCE.search(event)  # a delta's own (its text cannot hold one)
            if numbered is not None:
                self.last_seq = max(self.last_seq, int(numbered.group(1)))
            return event  # a delta: passes as it came
        else:
            doc = parsed(event_data(event))
            if doc is None:
                return event
            docs = [doc]
        return await self.docs(docs)

    def _translate(self, event: bytes) -> list[dict[str, Any]]:
        assert self.translator is not None
        data = event_data(event)
        if data == b"[DONE]":
            return self.translator.finish()
        chunk = parsed(data)
        if chunk is None:
            return []
        usage = usage_of(chunk)
        if usage is not None:
            self.usage = usage
        return self.translator.feed(chunk)

    async def fail(self, message: str) -> bytes:
        """The end of a stream the upstream broke off: ``error``, then ``response.failed``
        (kept, so the id the client was shown can be retrieved) once the stream had shown its
        response; only ``error`` before it."""
        if self.translator is not None:
            return await self.docs(self.translator.fail(message))
        if self.latest is None:
            return error_event(message, responses=True)
        failed = {
            **self.latest,
            "status": "failed",
            "error": {"code": "server_error", "message": message},
        }
        seq = max(self.events, self.last_seq + 1)  # numbered after the last one shown
        return await self.docs(failure_events(seq, "upstream_error", message, failed))

    async def docs(self, docs: list[dict[str, Any]]) -> bytes:
        out: list[dict[str, Any]] = []
        for doc in docs:
            if self.check is not None:
                self.check.chunk(doc)
            seq = doc.get("sequence_number")
            if isinstance(seq, int):
                self.last_seq = max(self.last_seq, seq)
            response = doc.get("response")
            if isinstance(response, dict):
                own(self.turn, response)
                self.latest = response
                if self.translator is None and (usage := usage_of(doc)) is not None:
                    self.usage = usage
            if isinstance(response, dict) and terminal(doc.get("type")):
                self.finished = True
                self.failed = doc.get("type") == "response.failed"
                out.extend(await self._kept(doc, response))
                continue
            out.append(doc)
        shown = [d for d in (reshape_chunk(doc, self.how) for doc in out) if d is not None]
        return encode_events(shown)

    async def _kept(self, doc: dict[str, Any], response: dict[str, Any]) -> list[dict[str, Any]]:
        """The terminal event ``doc`` once its response is kept; an error and a failed
        response when the store would not keep it; nothing when a cancel won meanwhile (a
        background response ends as cancelled, without a terminal event)."""
        try:
            if not await self.turns.keep(self.turn, response):
                return []
        except (StoreUnavailable, Conflict) as err:
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
            code = "store_unavailable" if isinstance(err, StoreUnavailable) else err.code
            return failure_events(seq, code, err.message, failed)
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
    splitter, events = opened.stream_start()
    outcome = "ok"
    content = opened.response.content
    try:
        while True:
            for event in events:  # what it generated is charged if no usage comes
                ledger.generated.measure(event)
            out = b"".join([await relay.event(e) for e in events])
            if out:
                yield out
            if relay.finished:
                break
            async with asyncio.timeout(idle_s):
                chunk = await content.readany()
            if not chunk:
                break
            events = splitter.feed(chunk)
        # a backend that ends its answer failed counts against it, as on chat
        outcome = "ok" if relay.finished and not relay.failed else "interrupted"
        if not relay.finished:
            yield await relay.fail("The upstream ended the stream early.")
    except (TimeoutError, aiohttp.ClientError) as err:
        outcome = "interrupted"
        broke = "stopped sending" if isinstance(err, TimeoutError) else "connection broke"
        yield await relay.fail(f"The upstream {broke}.")
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    except Exception:  # a fault of the router's own: the stream is cut short, not "ok"
        outcome = "upstream_error"
        raise
    finally:
        ledger.close(outcome, relay.usage)
        if outcome == "ok":
            opened.response.release()
        else:
            opened.response.close()
