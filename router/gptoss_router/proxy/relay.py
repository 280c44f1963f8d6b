"""Relay a committed upstream answer to the client, rewritten for it.

Streams go event by event as they arrive (never buffered whole). A stream that breaks after
its first byte cannot fail over any more (docs/sources.md, Failover): it ends with an in-band
OpenAI error event and no ``[DONE]``, the way OpenRouter reports errors after processing
starts, and it never hangs, since every read waits at most the idle timeout. A backend that
says in band that it failed (vLLM's engine failing mid-stream sends ``data: {"error": …}``,
then ``data: [DONE]``) ends the stream the same way: its error event, in OpenAI's shape, is
the last thing relayed, and the request counts as interrupted against the backend.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from gptoss_router.openai.error_bodies import error_event, normalise_error
from gptoss_router.openai.generated import Generated
from gptoss_router.openai.replies import (
    ReasoningText,
    Reshape,
    Usage,
    reshape_chunk,
    reshape_document,
    usage_of,
)
from gptoss_router.openai.sse import event_data, is_done
from gptoss_router.openai.stream_assembly import failure_in
from gptoss_router.proxy.accounting import Ledger
from gptoss_router.proxy.attempt import Opened
from gptoss_router.proxy.tool_checks import ToolCheck

__all__ = ["relay_document", "relay_stream"]

_DONE = b"[DONE]"
_TERMINAL = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def relay_document(
    body: bytes, how: Reshape, check: ToolCheck | None = None
) -> tuple[bytes, Usage | None]:
    """A whole (non-streamed) answer, rewritten, and its usage; its tool calls checked."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return body, None
    if not isinstance(doc, dict):
        return body, None
    usage = usage_of(doc)
    if check is not None:
        check.document(doc)
    if not how.touches_documents:
        return body, usage
    return json.dumps(reshape_document(doc, how), separators=(",", ":")).encode(), usage


class _StreamState:
    __slots__ = ("check", "failed", "finished", "generated", "texts", "usage")

    def __init__(self, check: ToolCheck | None, how: Reshape, generated: Generated) -> None:
        self.usage: Usage | None = None
        self.finished = False
        self.failed = False  # the backend said in band that it failed: nothing more is relayed
        self.check = check
        self.generated = generated  # every upstream event, before anything is stripped
        strip = how.strip_reasoning and how.route == "completions"
        self.texts = ReasoningText() if strip else None


async def relay_stream(
    opened: Opened,
    how: Reshape,
    ledger: Ledger,
    *,
    idle_s: float,
    check: ToolCheck | None = None,
) -> AsyncGenerator[bytes, None]:
    """Yield the client's stream; close the upstream and the ledger however it ends. Tool
    calls are checked (``check``) once the stream has ended whole, after the client got it.
    What the upstream generated is counted as it passes, for a stream that ends without its
    usage (the client left, the upstream cut it)."""
    state = _StreamState(check, how, ledger.generated)
    splitter, events = opened.stream_start()
    outcome = "ok"
    content = opened.response.content
    try:
        while True:
            out = _rewrite(events, how, state)
            if out:
                yield out
            if state.failed:
                break
            async with asyncio.timeout(idle_s):
                chunk = await content.readany()
            if not chunk:
                break
            events = splitter.feed(chunk)
        outcome, ending = _ending(state, how)
        if ending:
            yield ending
    except TimeoutError:
        outcome = "interrupted"
        yield error_event("The upstream stopped sending.", responses=_responses(how))
    except aiohttp.ClientError:
        outcome = "interrupted"
        yield error_event("The upstream connection broke.", responses=_responses(how))
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    except Exception:  # a fault of the router's own: the stream is cut short, not "ok"
        outcome = "upstream_error"
        raise
    finally:
        ledger.close(outcome, state.usage)
        if outcome == "ok":
            opened.response.release()
        else:
            opened.response.close()


def _ending(state: _StreamState, how: Reshape) -> tuple[str, bytes]:
    """How a stream read to its end ends: its outcome, and the error event that closes it when
    the upstream ended it early. Tool calls are checked once it has ended whole."""
    if state.failed:  # the backend's own error event, already relayed, ended it
        return "interrupted", b""
    if not state.finished:
        ended = error_event("The upstream ended the stream early.", responses=_responses(how))
        return "interrupted", ended
    if state.check is not None:
        state.check.finish()
    return "ok", b""


def _responses(how: Reshape) -> bool:
    return how.route == "responses"


def _rewrite(events: list[bytes], how: Reshape, state: _StreamState) -> bytes:
    if not events:
        return b""
    touch = how.touches_documents
    # A pass-through stream's text events need no other look: one shaped as the last text
    # event (``Generated.measure``) is neither its end, nor usage, nor anything to rewrite.
    plain = not touch and state.check is None
    measure = state.generated.measure
    out: list[bytes] = []
    for event in events:
        if measure(event) and plain:
            out.append(event)
            continue
        if how.route == "responses":
            if any(marker in event for marker in _TERMINAL):
                state.finished = True
            needs_parse = touch or b'"response.completed"' in event
        else:
            if is_done(event):
                state.finished = True
                out.append(event)
                continue
            failed = _failed(event) if b'"error"' in event else None
            if failed is not None:
                state.failed = True
                out.append(failed)
                break  # its [DONE] would tell the client the answer ended well
            needs_parse = (
                touch
                or b'"prompt_tokens"' in event
                or (state.check is not None and b'"tool_calls"' in event)
            )
        if not needs_parse:
            out.append(event)
            continue
        rewritten = _rewrite_event(event, how, state)
        if rewritten is not None:
            out.append(rewritten)
    return b"".join(out)


def _failed(event: bytes) -> bytes | None:
    """The error event that ends the client's stream, in OpenAI's shape, when ``event`` is a
    backend's in-band error (vLLM's ``create_streaming_error_response``: its ``code`` is the
    HTTP status, its ``type`` an exception's name); None for any other event."""
    data = event_data(event)
    if data is None:
        return None
    try:
        doc: Any = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if failure_in(doc) is None:
        return None
    body = normalise_error(_status_of(doc.get("error")), data)
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _status_of(error: Any) -> int:
    """The HTTP status an in-band error names (vLLM's ``code``), else 500."""
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and 400 <= code <= 599 else 500


def _rewrite_event(event: bytes, how: Reshape, state: _StreamState) -> bytes | None:
    data = event_data(event)
    if data is None or data == _DONE:
        return event
    try:
        doc: Any = json.loads(data)
    except (ValueError, RecursionError):
        return event
    if not isinstance(doc, dict):
        return event
    usage = usage_of(doc)
    if usage is not None:
        state.usage = usage
    if state.check is not None:
        state.check.chunk(doc)
    reshaped = reshape_chunk(doc, how, state.texts)
    if reshaped is None:
        return None
    if not how.touches_documents:
        return event
    head = event[: event.index(b"data:")] if how.route == "responses" else b""
    return head + b"data: " + json.dumps(reshaped, separators=(",", ":")).encode() + b"\n\n"
