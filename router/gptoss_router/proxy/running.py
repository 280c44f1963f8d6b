"""An attempt under way (``proxy/hedging.py``): its trial and wire, the task that runs it, and,
for one that may race another, the future told its first output apart from its whole answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gptoss_router.proxy.accounting import Trial
from gptoss_router.proxy.attempt import Failure, Opened, Rejected
from gptoss_router.proxy.responses import Wire

__all__ = ["Result", "Running", "abandon", "reached", "settle_first"]

Result = Opened | Failure | Rejected


@dataclass(eq=False, slots=True)
class Running:
    """One attempt of a request, started."""

    trial: Trial
    wire: Wire
    first: asyncio.Future[Result] | None  # up to its first output; None: it never races
    task: asyncio.Future[Result]  # its whole answer (a gathered one assembled)
    began: float
    hedge: bool
    timed: bool  # its first event is still to be told to the tail book (only if it may race)


def reached(running: Running) -> bool:
    """Whether an attempt under way has its first output (or its end)."""
    return running.task.done() or (running.first is not None and running.first.done())


def settle_first(first: asyncio.Future[Result], task: asyncio.Future[Result]) -> None:
    """An attempt's task ended before it told its first output (it raised, or was cancelled):
    ``first`` ends the same way."""
    if first.done():
        return
    if task.cancelled():
        first.cancel()
    elif (error := task.exception()) is not None:
        first.set_exception(error)


def abandon(result: Result) -> None:
    """Close the upstream answer of an attempt nobody will read any more."""
    if isinstance(result, Opened):
        result.response.close()
