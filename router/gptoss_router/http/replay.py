"""A background response streamed again: ``GET /v1/responses/{id}?stream=true``, with
``starting_after=N`` to resume after the event numbered N, as OpenAI's and vLLM's APIs do.

From the replica running it, the events come from its ``LiveLog`` as they are made. From any
other replica, or once it has ended, they come from the store's event log
(``state/event_logs.py``), read again each time it grows or its response is cancelled or
deleted (the store rings this replica's bell, ``state/bells.py``) and at least every
``tuning.replay_poll_s`` while the response runs; a replay whose log grew since it last read the
response reads it again within ``_CHECK_S``, since rings that come together wake it once. The
stream ends after its terminal event (``response.completed``, ``failed`` or ``incomplete``),
or with nothing more once the response is cancelled. A response whose log holds no terminal
event (created without ``stream``, or its last events lost with the store) ends with one made
from the stored response once that is final and its log has not grown for ``_SETTLE_S``. One
whose log began but has not grown for ``tuning.replay_idle_s`` while it stayed unfinished (its
replica died without writing its end) ends with an ``error`` event; one whose log never began
(made without ``stream``, however long it runs) waits for its final status. The store failing
mid-stream ends it with an ``error`` event, and before the first byte is a 503.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from starlette.responses import Response, StreamingResponse

from gptoss_router.errors import BadRequest, StoreUnavailable
from gptoss_router.http.state import State
from gptoss_router.openai.responses_events import encode_events
from gptoss_router.openai.responses_state import without_reasoning
from gptoss_router.routing.access import App
from gptoss_router.state.event_logs import TERMINAL_EVENTS, read_entry
from gptoss_router.state.responses import Record

__all__ = ["replay", "starting_after"]

_BATCH = 512  # events read from the store at once
_CHECK_S = 1.0  # how often a replay from the store looks at the response's status
_SETTLE_S = 2.0  # a final response's log is complete once it has not grown for this long
_FINAL = {"completed": "response.completed", "failed": "response.failed"}


def starting_after(query: Mapping[str, str]) -> int:
    """The ``starting_after`` of a query: the sequence number of the last event the client
    has; -1 (every event) when absent."""
    raw = query.get("starting_after")
    if raw is None:
        return -1
    try:
        after = int(raw)
    except ValueError:
        after = -2
    if after < -1:
        raise BadRequest(
            f"Invalid 'starting_after': expected the sequence number of an event (an integer "
            f"of at least 0), got '{raw[:40]}'.",
            param="starting_after",
        )
    return after


async def replay(state: State, app: App, record: Record, after: int) -> Response:
    """The events of the background response ``record`` after the one numbered ``after``."""
    response = record.response
    rid = str(response.get("id"))
    if response.get("background") is not True:
        raise BadRequest(
            f"Response '{rid}' was not created with background: true; only background "
            "responses can be streamed again. Retrieve it without 'stream'.",
            param="stream",
        )
    live = state.proxy.background.live(rid)
    if live is not None:
        chunks = live.follow(after)
    else:
        first = await state.events.read(app.name, rid, 0, _BATCH)  # a 503 before any byte
        chunks = _stored(state, app, rid, after, first)
    return StreamingResponse(chunks, media_type="text/event-stream")


async def _stored(
    state: State, app: App, rid: str, after: int, batch: list[bytes]
) -> AsyncGenerator[bytes, None]:
    """The events of the store's log of ``rid`` above ``after``, following it until the end."""
    tuning = state.settings.tuning
    loop = asyncio.get_running_loop()
    index, last = 0, after
    quiet = checked = loop.time()
    watched = False  # whether ``batch`` was read after the bell was set up
    try:
        async with state.events.watch(app.name, rid) as bell:
            while True:
                for kept in batch:
                    index += 1
                    seq, kind, event = read_entry(kept)
                    if seq > last:
                        last = seq
                        yield event
                    if kind in TERMINAL_EVENTS:  # shown now, or before the client's starting_after
                        return
                now = loop.time()
                if batch:
                    quiet = now
                if not batch or now - checked >= _CHECK_S:
                    checked = now
                    found = await state.records.get(app.name, rid)
                    response = None if found is None else found[0].response
                    # a log that has not begun may be a response made without stream: never stalled
                    idle_s = tuning.replay_idle_s if index else math.inf
                    verdict = _verdict(response, now - quiet, idle_s)
                    if verdict != "go":
                        ending = _ending(verdict, response, rid, last + 1, app, idle_s)
                        if ending:
                            yield ending
                        return
                if watched and len(batch) < _BATCH:  # all there was: wait for the next append
                    # or, if events came after the response was last read, for a second at most
                    await bell.wait(
                        tuning.replay_poll_s
                        if checked >= quiet
                        else min(_CHECK_S, tuning.replay_poll_s)
                    )
                watched = True
                batch = await state.events.read(app.name, rid, index, _BATCH)
    except StoreUnavailable as err:
        yield _error(last + 1, "store_unavailable", err.message)
    except ValueError:  # an entry this router did not write: the log is not to be trusted
        yield _error(last + 1, "server_error", f"The events of response '{rid}' are unreadable.")


def _verdict(response: dict[str, Any] | None, quiet_s: float, idle_s: float) -> str:
    """Whether a replay from the store goes on (``go``) or why it ends, from the stored
    response and how long its log has not grown."""
    if response is None:
        return "gone"
    status = response.get("status")
    if status == "cancelled":
        return "cancelled"
    if status in ("completed", "failed", "incomplete"):
        # its last events reach the store a flush after the status: wait for them a while
        return "final" if quiet_s >= _SETTLE_S else "go"
    return "stalled" if quiet_s >= idle_s else "go"


def _ending(
    verdict: str, response: dict[str, Any] | None, rid: str, seq: int, app: App, idle_s: float
) -> bytes:
    """The last bytes of a replay ended for ``verdict`` (none for a cancelled response)."""
    if verdict == "final" and response is not None:
        shown = without_reasoning(response) if app.strip_reasoning else response
        kind = _FINAL.get(str(response.get("status")), "response.incomplete")
        return encode_events([{"type": kind, "sequence_number": seq, "response": shown}])
    if verdict == "gone":
        return _error(seq, "not_found", f"Response '{rid}' no longer exists.")
    if verdict == "stalled":
        return _error(seq, "server_error", f"Response '{rid}' made no progress for {idle_s:g} s.")
    return b""


def _error(seq: int, code: str, message: str) -> bytes:
    error = {"type": "error", "sequence_number": seq, "code": code, "message": message}
    return encode_events([{**error, "param": None}])
