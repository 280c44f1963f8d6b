"""A whole answer gathered from a stream the client never sees.

A client that asks for one JSON document gets it only when the backend has finished, so for it
a backend that hangs, or breaks half way, is indistinguishable from a slow one until the
600 s response timeout. The router therefore asks the backend for a stream (``stream: true``,
with usage) whenever the answer can be assembled from one (``openai/stream_assembly.py``), and
gathers it here: the first event must come within the first-byte timeout, each next within the
idle timeout, the whole within the response timeout. Since nothing has reached the client yet,
every way the stream can fail is a ``Failure`` the request path retries on the next backend,
including a backend that dies after the first token, and a stream the assembler cannot make
sense of (an event shaped as nobody expected, or a bug of the router's own: logged, and ended
as a broken stream rather than as the caller's 500). What such a stream generated before it
failed, or before the client left, is counted (``Generated``) for the ledger to charge: the
text the assembler holds, and a Responses stream's deltas, which it does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from gptoss_router import codec
from gptoss_router.config.tuning import Tuning
from gptoss_router.openai.generated import Generated
from gptoss_router.openai.inbound import Inbound
from gptoss_router.openai.sse import event_data
from gptoss_router.openai.stream_assembly import Assembler, StreamBroken, can_gather
from gptoss_router.proxy.attempt import Failure, Opened, Rejected, attempt
from gptoss_router.proxy.calls import Call
from gptoss_router.proxy.responses import Wire
from gptoss_router.routing.backends import Target

__all__ = ["first_event", "gathers", "rest_of"]

log = logging.getLogger(__name__)

_DONE = b"[DONE]"
# Events of a Responses stream worth parsing: its end, or an error.
_RESPONSE_MARKERS = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def gathers(call: Call) -> bool:
    """Whether the whole answer ``call`` wants can be asked for as a stream and assembled."""
    inbound, turn = call.inbound, call.turn
    if inbound.stream:
        return False
    if turn is None:
        return can_gather(inbound.route, inbound.payload)
    # A translated turn's chat request carries none of what can_gather refuses.
    return can_gather("responses", turn.native.payload)


async def first_event(
    session: aiohttp.ClientSession,
    target: Target,
    wire: Wire,
    inbound: Inbound,
    tuning: Tuning,
    connect: aiohttp.ClientTimeout,
    *,
    gather: bool,
) -> Opened | Failure | Rejected:
    """An attempt on ``target`` up to its first event (the first-byte timeout bounds it); when
    neither streamed nor gathered, up to its whole document (the response timeout bounds it)."""
    streamed = inbound.stream or gather
    return await attempt(
        session,
        target,
        wire.path,
        wire.body,
        stream=streamed,
        first_byte_s=tuning.first_byte_timeout_s if streamed else tuning.response_timeout_s,
        connect=connect,
    )


async def rest_of(
    opened: Opened,
    target: Target,
    wire: Wire,
    inbound: Inbound,
    tuning: Tuning,
    *,
    gather: bool,
    generated: Generated,
) -> Opened | Failure:
    """What follows an attempt's first event before the answer starts: streamed or not
    gathered, nothing; gathered, the whole answer assembled (``Opened.first`` then holds the
    document; what it generated is counted in ``generated``)."""
    if inbound.stream or not gather:
        return opened
    route = "chat" if wire.translated else inbound.route
    return await _gather(
        opened,
        route,
        target.label,
        idle_s=tuning.idle_timeout_s,
        total_s=tuning.response_timeout_s,
        generated=generated,
    )


async def _gather(
    opened: Opened,
    route: str,
    label: str,
    *,
    idle_s: float,
    total_s: float,
    generated: Generated,
) -> Opened | Failure:
    """The whole answer of ``opened``'s stream as one document (in ``first``), or the
    ``Failure`` that ended it; the upstream connection is released or closed either way."""
    assembler = Assembler(route)
    splitter, events = opened.stream_start()
    content = opened.response.content
    started = time.perf_counter()
    try:
        async with asyncio.timeout(total_s):
            while True:
                for event in events:
                    _feed(assembler, event, generated)
                async with asyncio.timeout(idle_s):
                    chunk = await content.readany()
                if not chunk:
                    break
                events = splitter.feed(chunk)
        document = _document(assembler)
    except TimeoutError:
        opened.response.close()
        waited = time.perf_counter() - started
        return Failure("timeout", 504, f"{label} stopped sending after {waited:.1f} s")
    except aiohttp.ClientError:
        opened.response.close()
        return Failure("reset", 502, f"{label} dropped the connection mid-answer")
    except StreamBroken as err:
        opened.response.close()
        return Failure("reset", 502, f"{label}: {err}")
    except BaseException:
        opened.response.close()
        raise
    finally:  # the text the assembler holds is what the attempt generated
        if not assembler.measured:
            generated.add(*assembler.generated())
    opened.response.release()
    body = codec.dumps(document)
    return Opened(opened.response, body, opened.ttft_s)


def _feed(assembler: Assembler, event: bytes, generated: Generated) -> None:
    if assembler.route == "responses" and not (
        b'"error"' in event or any(marker in event for marker in _RESPONSE_MARKERS)
    ):
        generated.measure(event)  # a delta: the terminal event carries the whole response
        return
    data = event_data(event)
    if data is None:
        return
    if data == _DONE:
        assembler.finish()
        return
    try:
        parsed: Any = codec.loads(data)
    except (ValueError, RecursionError):
        raise StreamBroken("the backend sent an event that is not JSON") from None
    try:
        assembler.feed(parsed)
    except StreamBroken:
        raise
    except Exception as err:
        raise _unassembled(err) from err


def _document(assembler: Assembler) -> dict[str, Any]:
    """The assembled document; ``StreamBroken`` if the stream did not reach its end or the
    assembler could not make one of it."""
    try:
        return assembler.document()
    except StreamBroken:
        raise
    except Exception as err:
        raise _unassembled(err) from err


def _unassembled(err: Exception) -> StreamBroken:
    """An error the assembler did not expect, logged, as a broken stream another backend may
    answer instead."""
    log.warning("could not assemble a gathered stream", exc_info=err)
    return StreamBroken(f"the router could not assemble the stream ({type(err).__name__})")
