"""Background responses (``background: true``): admitted and kept as queued at once, run in a
task of this replica, their status kept as it changes.

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

from gptoss_router.errors import RouterError
from gptoss_router.openai.inbound import Route
from gptoss_router.openai.responses_state import without_reasoning
from gptoss_router.proxy.asgi import Streamed, Whole
from gptoss_router.proxy.calls import Request
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


class BackgroundRuns:
    """The background responses this replica runs, by response id."""

    def __init__(self, turns: Turns, admission: Admission, run: Run) -> None:
        self._turns = turns
        self._admission = admission
        self._run_call = run
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def cancel(self, response_id: str) -> bool:
        """Stop the background response ``response_id`` if this replica runs it."""
        task = self._tasks.get(response_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def stop(self) -> None:
        """Cancel every run, each left failed in the store, and stop the final writes still
        trying (shutdown)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._turns.finals.close()

    async def start(self, route: Route, request: Request, turn: Turn) -> Whole:
        """Admit the request against its app's limits (a 429 now, not a failed response
        later), keep the response as queued, answer with it, and run the request meanwhile."""
        ticket = await self._admission.admit(request.app.name, request.reserve)
        queued = self._turns.status_of(turn, "queued")
        try:
            await self._turns.keep(turn, queued)
        except BaseException:
            self._admission.settle(ticket, input_tokens=0, output_tokens=0, dollars=0.0)
            raise
        task = asyncio.create_task(self._run(route, request, turn, ticket))
        self._tasks[turn.response_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(turn.response_id, None))
        shown = without_reasoning(queued) if request.app.strip_reasoning else queued
        return Whole(200, json.dumps(shown, separators=(",", ":")).encode(), {})

    async def _run(self, route: Route, request: Request, turn: Turn, ticket: Ticket) -> None:
        try:
            await self._answer(route, request, turn, ticket)
        finally:
            await turn.unlock()  # the conversation is free once the response has ended

    async def _answer(self, route: Route, request: Request, turn: Turn, ticket: Ticket) -> None:
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
        except RouterError as err:
            error = {"code": err.code or err.kind, "message": err.message}
        except Exception:
            log.exception("background response %s failed", turn.response_id)
            error = {"code": "server_error", "message": "The router failed."}
        except asyncio.CancelledError:
            if self._stopping:  # a cancel through the API has written its own status
                await self._failed(turn, _STOPPED, deadline_s=_STOPPING_S)
            raise
        if error is not None:
            await self._failed(turn, error)

    async def _failed(
        self, turn: Turn, error: dict[str, str], *, deadline_s: float | None = None
    ) -> None:
        """Keep the background response ``turn`` as failed with ``error``, once the store takes
        it (``finals``)."""
        failed = self._turns.status_of(turn, "failed", error)
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
