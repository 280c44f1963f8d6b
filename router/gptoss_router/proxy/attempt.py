"""One attempt against one backend, up to its first byte, and what became of it.

An attempt is *committed* once it yields its first body byte, and only then does anything go
to the client (the gRPC commit rule, grpc/proposal A6: servers and proxies delay headers until the
first message). Before that, every failure is a ``Failure`` the caller may retry elsewhere:

    connect errors, resets, timeouts      (Envoy ``connect-failure``/``reset``/``5xx``)
    5xx, 429, the dialect's overload codes (Groq 498; 503 from Fireworks and Together)
    401/403 from a provider               the router's own credentials, not the caller's
    a stream whose first event is an error (vLLM's engine failing before the first token:
                                          HTTP 200, ``data: {"error": …}``, ``data: [DONE]``)

A stream's first bytes are therefore read up to the end of its first event that carries output
(``openai/openings.py``: a role-only chunk or ``response.created`` only opens a stream, and
hosted platforms send them before they generate) before the attempt counts as committed; the
time to that event is the attempt's time to first token. A stream that ends after its openings
alone failed.

Other 4xx are the caller's fault and come back as ``Rejected`` with an OpenAI-shaped body (a
404, the backend not having the model, is first tried elsewhere: ``proxy/handler.py``).
Each provider's overload statuses: docs/sources.md, Providers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from gptoss_router import codec
from gptoss_router.openai.error_bodies import normalise_error
from gptoss_router.openai.openings import is_opening
from gptoss_router.openai.sse import EventSplitter, event_data
from gptoss_router.openai.stream_assembly import failure_in
from gptoss_router.routing.backends import Target
from gptoss_router.state.provider_limits import retry_after_seconds, spent_for

__all__ = ["Failure", "Opened", "Rejected", "attempt"]

_STREAM_HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}
_DOCUMENT_HEADERS = {"content-type": "application/json"}
_HEAD = 96  # bytes of an event (its "event:" line and the start of its data) that name an error


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that failed before its first byte."""

    reason: str
    status: int
    message: str
    retry_after: float | None = None
    spent_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The backend refused the request itself; pass its error on."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Opening:
    """A stream's first bytes as read: their complete events, the splitter that holds what
    follows them, and where the output begins (None: the stream ended before any)."""

    events: list[bytes]
    splitter: EventSplitter
    output: int | None

    def up_to_output(self) -> list[bytes]:
        """The openings and the first output: what a backend sent before its answer began."""
        return self.events if self.output is None else self.events[: self.output + 1]


@dataclass(slots=True)
class Opened:
    """A committed attempt: its response, its first bytes and how long they took.

    The rest of a stream is read with ``response.content.readany()`` (``b""`` at its end);
    whoever reads it calls ``response.release()`` when done, or ``close()`` if it gives up.
    """

    response: aiohttp.ClientResponse
    first: bytes
    ttft_s: float
    read: _Opening | None = None  # a stream's first bytes as the attempt split them

    def stream_start(self) -> tuple[EventSplitter, list[bytes]]:
        """The splitter a stream's reader goes on with, and the complete events of
        ``first``: the attempt's own, so that each byte is split once. For its one reader."""
        if self.read is not None:
            return self.read.splitter, self.read.events
        splitter = EventSplitter()
        return splitter, splitter.feed(self.first)


async def attempt(
    session: aiohttp.ClientSession,
    target: Target,
    path: str,
    body: bytes,
    *,
    stream: bool,
    first_byte_s: float,
    connect: aiohttp.ClientTimeout,
) -> Opened | Failure | Rejected:
    """Send ``body`` to ``target`` and wait for its first event (all of it when not streaming).

    ``connect`` bounds connecting; ``first_byte_s`` bounds everything up to the first event.
    """
    headers = _STREAM_HEADERS if stream else _DOCUMENT_HEADERS
    headers = {**headers, **target.headers} if target.headers else headers
    started = time.perf_counter()
    response: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(first_byte_s):
            response = await session.post(
                f"{target.base_url}/{path}",
                data=body,
                headers=headers,
                timeout=connect,
                allow_redirects=False,
            )
            if response.status >= 400:
                return _refusal(target, response, await response.read())
            if stream:
                first, opening = await _first(response)
            else:
                first, opening = await response.read(), None
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        failure = Failure("connect", 502, f"could not connect to {target.label}")
    except TimeoutError:
        failure = Failure("timeout", 504, f"{target.label} did not answer in time")
    except aiohttp.ClientError:
        failure = Failure("reset", 502, f"{target.label} dropped the connection")
    except BaseException:
        if response is not None:
            response.close()
        raise
    else:
        judged = _judged(target, first, opening)
        if judged is None:
            return Opened(response, first, time.perf_counter() - started, opening)
        failure = judged
    if response is not None:
        response.close()
    return failure


def _judged(target: Target, first: bytes, opening: _Opening | None) -> Failure | None:
    """The failure a stream's first bytes (``opening`` their events) or a whole document
    show, if any."""
    failed = _failed_in_band(opening.up_to_output()) if opening is not None else None
    if failed is not None:
        return Failure("error_event", 502, f"{target.label} failed: {failed}")
    if not first:
        return Failure("reset", 502, f"{target.label} sent an empty response")
    if opening is not None and opening.output is None:
        return Failure("reset", 502, f"{target.label} ended its stream before any output")
    return None


async def _first(response: aiohttp.ClientResponse) -> tuple[bytes, _Opening]:
    """A stream's first bytes, up to the read that holds its first event with output (or to
    its end), and how they split. Each event is split once and looked at up to the output."""
    content, splitter = response.content, EventSplitter()
    first, events = b"", list[bytes]()
    while True:
        chunk = await content.readany()
        first += chunk
        seen = len(events)
        events += splitter.feed(chunk)
        for n in range(seen, len(events)):
            if not is_opening(events[n]):
                return first, _Opening(events, splitter, output=n)
        if content.at_eof():
            return first, _Opening(events, splitter, output=None)


def _failed_in_band(events: list[bytes]) -> str | None:
    """What went wrong, when one of a stream's first events (its openings and its first
    output; what follows is the answer's) says it failed. Such an event names its failure near
    its start; other events are not parsed."""
    for event in events:
        head = event[:_HEAD]
        if b"error" not in head and b"response.failed" not in head:
            continue
        data = event_data(event)
        if data is None:
            continue
        try:
            failed = failure_in(codec.loads(data))
        except (ValueError, RecursionError):
            continue
        if failed is not None:
            return failed
    return None


def _refusal(target: Target, response: aiohttp.ClientResponse, body: bytes) -> Failure | Rejected:
    status = response.status
    hosted_auth = target.kind == "hosted" and status in (401, 403)
    if status >= 500 or status == 429 or status in target.dialect.overload_statuses or hosted_auth:
        now = time.time()
        passed_on = 429 if status == 429 else 503 if status in (503, 498) else 502
        return Failure(
            reason=f"status_{status}",
            status=passed_on,
            message=f"{target.label} answered {status}",
            retry_after=retry_after_seconds(response.headers, now=now),
            spent_s=spent_for(status, response.headers, now=now),
        )
    return Rejected(status, normalise_error(status, body))
