"""Background responses (``background: true``): admitted and kept as queued at once, run in a
task of this replica, their status kept as it changes.

A streamed one (``stream: true`` too) answers with its events as they come, read from a
``LiveLog`` the run fills; the run also appends them to the store's event log in batches, each
event about ``_FLUSH_S`` after it was made whether or not the backend's next one has come, so
that any replica can stream them again as they come (``http/replay.py``). The
client leaving stops only its own stream: the run goes on, as OpenAI's background mode does.

Every run ends with a status in the store: its response when it completes, ``failed`` with the
error otherwise, written through ``finals`` so that a store that blinked at that moment does not
leave it in progress. A run cancelled through the API has its ``cancelled`` status written by
the cancel; one cancelled because this replica stops is left ``failed`` (no other replica takes
it over).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from gptoss_router.errors import RouterError, StoreUnavailable
from gptoss_router.openai.inbound import Route
from gptoss_router.openai.responses_events import encode_events, failure_events
from gptoss_router.openai.responses_state import without_reasoning
from gptoss_router.proxy.asgi import Streamed, Whole
from gptoss_router.proxy.calls import Request
from gptoss_router.proxy.live_log import LiveLog
from gptoss_router.proxy.turns import Turn, Turns
from gptoss_router.routing.admission import Admission, Ticket

__all__ = ["BackgroundRuns"]

log = logging.getLogger(__name__)

Run = Callable[[Route, Request, Ticket], Awaitable[Whole | Streamed]]
_STOPPED = {
    "code": "server_error",
    "message": "The router replica running this background response stopped; create it again.",
}
_STOPPING_S = 5.0  # how long a stopping replica tries to write that down
_FLUSH_S = 0.1  # a streamed run's events reach the store at most this long after they were made


class BackgroundRuns:
    """The background responses this replica runs, by response id."""

    def __init__(self, turns: Turns, admission: Admission, run: Run) -> None:
        self._turns = turns
        self._admission = admission
        self._run_call = run
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, LiveLog] = {}
        self._stopping = False

    def cancel(self, response_id: str) -> bool:
        """Stop the background response ``response_id`` if this replica runs it."""
        task = self._tasks.get(response_id)
        if task is None:
            return False
        task.cancel()
        return True

    def live(self, response_id: str) -> LiveLog | None:
        """The events of the streamed background response ``response_id`` while this replica
        runs it."""
        return self._live.get(response_id)

    async def stop(self) -> None:
        """Cancel every run, each left failed in the store, and stop the final writes still
        trying (shutdown)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._turns.finals.close()

    async def start(self, route: Route, request: Request, turn: Turn) -> Whole | Streamed:
        """Admit the request against its app's limits (a 429 now, not a failed response
        later), keep the response as queued, answer with it (streamed: with its events as they
        come), and run the request meanwhile."""
        ticket = await self._admission.admit(request.app.name, request.reserve)
        queued = self._turns.status_of(turn, "queued")
        try:
            await self._turns.keep(turn, queued)
        except BaseException:
            self._admission.settle(ticket, input_tokens=0, output_tokens=0, dollars=0.0)
            raise
        rid = turn.response_id
        live = LiveLog() if request.inbound.stream else None
        task = asyncio.create_task(self._run(route, request, turn, ticket, live))
        self._tasks[rid] = task
        if live is not None:
            self._live[rid] = live

        def forget(_: object) -> None:
            self._tasks.pop(rid, None)
            if live is not None:
                live.end()  # a run cancelled before it began ends its streams too
                self._live.pop(rid, None)

        task.add_done_callback(forget)
        if live is not None:
            return Streamed(live.follow(-1), dict(ticket.headers))
        shown = without_reasoning(queued) if request.app.strip_reasoning else queued
        return Whole(200, json.dumps(shown, separators=(",", ":")).encode(), dict(ticket.headers))

    async def _run(
        self, route: Route, request: Request, turn: Turn, ticket: Ticket, live: LiveLog | None
    ) -> None:
        try:
            await self._answer(route, request, turn, ticket, live)
        finally:
            try:
                if live is not None:
                    live.end()
                    await self._flush(turn, live, final=True)
                    await self._unless_deleted(turn)
            finally:
                await turn.unlock()  # the conversation is free once the response has ended

    async def _answer(
        self, route: Route, request: Request, turn: Turn, ticket: Ticket, live: LiveLog | None
    ) -> None:
        error: dict[str, str] | None = None
        try:
            try:
                await self._turns.keep(turn, self._turns.status_of(turn, "in_progress"))
            except BaseException:
                self._admission.settle(ticket, input_tokens=0, output_tokens=0, dollars=0.0)
                raise
            answer = await self._run_call(route, request, ticket)
            if isinstance(answer, Whole) and answer.status != 200:
                error = _error_of(answer.body)
            elif isinstance(answer, Streamed) and live is not None:
                await self._relay(turn, answer, live)
                error = await self._unended(turn, live)
        except RouterError as err:
            error = {"code": err.code or err.kind, "message": err.message}
        except Exception:
            log.exception("background response %s failed", turn.response_id)
            error = {"code": "server_error", "message": "The router failed."}
        except asyncio.CancelledError:
            if self._stopping:  # a cancel through the API has written its own status
                await self._failed(turn, _STOPPED, live, deadline_s=_STOPPING_S)
            raise
        if error is not None:
            await self._failed(turn, error, live)

    async def _unended(self, turn: Turn, live: LiveLog) -> dict[str, str] | None:
        """The error a streamed run ends with, when its stream did not end it: None once a
        terminal event was streamed (a ``response.failed`` kept again, in case the store missed
        it as it was streamed) or a cancel stopped it."""
        if live.last is not None:
            kind, response = live.last
            if kind == "response.failed":
                await self._turns.finals.write(
                    f"background response {turn.response_id}",
                    lambda: self._turns.keep(turn, {**response, "status": "failed"}),
                )
            return None
        try:
            found = await self._turns.records.get(turn.app, turn.response_id)
        except StoreUnavailable:
            found = None
        if found is not None and found[0].response.get("status") == "cancelled":
            return None  # a cancel won over the stream's end: nothing more to say
        return {"code": "server_error", "message": "The backend failed."}

    async def _unless_deleted(self, turn: Turn) -> None:
        """Forget the events of a response deleted while it ran (the run went on appending
        them, with nobody left to read them)."""
        events = self._turns.events
        if events is None:
            return
        try:
            if await self._turns.records.get(turn.app, turn.response_id) is None:
                await events.delete(turn.app, turn.response_id)
        except StoreUnavailable:
            return  # they expire with the response's TTL

    async def _relay(self, turn: Turn, answer: Streamed, live: LiveLog) -> None:
        """Read the run's events into ``live``; they reach the store from ``_storing``, and at
        once at the terminal event."""
        storing = asyncio.create_task(self._storing(turn, live))
        try:
            async for chunk in answer.chunks:
                live.add(chunk)
                if live.terminal:
                    await self._flush(turn, live)
        finally:
            try:
                storing.cancel()
                await asyncio.wait([storing])  # neither its end nor a cancel of ours is lost
            finally:
                await answer.chunks.aclose()  # a cancel closes the upstream, settles the ledger

    async def _storing(self, turn: Turn, live: LiveLog) -> None:
        """Append the run's events to the store ``_FLUSH_S`` after the first of them not yet
        there was made, whether or not more follow: a replay on another replica sees an event
        before the backend's next one, however long it pauses (a tool call being written, a
        model thinking)."""
        if self._turns.events is None:
            return
        while True:
            while not live.pending:
                await live.changed()
            await asyncio.sleep(_FLUSH_S)  # events made meanwhile go in the same append
            try:
                await self._flush(turn, live)
            except Exception:  # the terminal event's flush and the final one still take them
                log.exception("events of %s not appended as they come", turn.response_id)
                return

    async def _flush(self, turn: Turn, live: LiveLog, *, final: bool = False) -> None:
        """Append the events the store has not taken; those it refused are tried again at the
        next flush (a lost store costs the replay, never the run or its client's stream)."""
        events = self._turns.events
        async with live.storing:  # one append at a time: none is sent twice, none dropped
            if not live.pending or events is None:
                return
            batch = list(live.pending)
            try:
                await events.append(turn.app, turn.response_id, batch)
            except StoreUnavailable as err:
                if final:
                    log.warning("events of %s not kept: %s", turn.response_id, err.message)
                return
            del live.pending[: len(batch)]

    async def _failed(
        self,
        turn: Turn,
        error: dict[str, str],
        live: LiveLog | None,
        *,
        deadline_s: float | None = None,
    ) -> None:
        """Keep the background response ``turn`` as failed with ``error``, once the store takes
        it (``finals``); a streamed one tells its streams first."""
        failed = self._turns.status_of(turn, "failed", error)
        if live is not None and not live.terminal:
            events = failure_events(live.next_sequence, error["code"], error["message"], failed)
            live.add(encode_events(events))
        await self._turns.finals.write(
            f"background response {turn.response_id}",
            lambda: self._turns.keep(turn, failed),
            deadline_s=deadline_s,
        )


def _error_of(body: bytes) -> dict[str, str]:
    try:
        error = json.loads(body).get("error") or {}
        return {"code": str(error.get("code") or error.get("type")), "message": error["message"]}
    except (ValueError, AttributeError, KeyError, TypeError):
        return {"code": "server_error", "message": "The backend failed."}
