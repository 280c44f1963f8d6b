"""The attempts of one request, up to the one that answers: failover in the plan's order, and a
hedge when an attempt is slow.

Attempts go to the plan's candidates in order, one at a time; a failed attempt is followed by
the next while the retry budget allows (``Ledger.may_retry``). An attempt still without its
first event when its backend's ``hedge_quantile`` of recent times to first event has passed
(``state/ttft_tail.py``) is *hedged*: the next candidate is sent the same request while the
first goes on, and whichever sends its first event first is the answer; the other is cancelled
(its connection closed, which makes vLLM abort it). That is Envoy's ``hedge_on_per_try_timeout``
and gRPC's ``hedgingDelay`` (grpc/proposal A6), with the delay learned per backend as "The Tail
at Scale" recommends, so that about 5 % of attempts are hedged and a pod that hangs costs its
callers a second, not the first-byte timeout. Hedges come out of the retry budget, at most two
attempts run at once, and all of them count towards ``max_attempts``.

Only attempts whose answer comes as a stream (streamed, or gathered: ``gather.py``) are timed
and hedged; a gathered answer races to its first event, and only the winner is gathered. A
cancelled attempt is charged what it streamed, which before its first event is nothing: a
provider that bills the prompt of a request cancelled before its first token bills a hedge's
loser its prompt, which the router cannot see (docs/reliability.md, Hedging).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from gptoss_router.config.tuning import Tuning
from gptoss_router.openai.inbound import Inbound
from gptoss_router.proxy.accounting import Ledger, Trial
from gptoss_router.proxy.attempt import Failure, Opened, Rejected
from gptoss_router.proxy.gather import first_event, rest_of
from gptoss_router.proxy.responses import Wire
from gptoss_router.proxy.running import Result, Running, abandon, reached, settle_first
from gptoss_router.routing.backends import Target
from gptoss_router.routing.policy import Candidate
from gptoss_router.state.ttft_tail import TailBook

__all__ = ["Answered", "Attempts", "Exhausted"]


@dataclass(frozen=True, slots=True)
class Answered:
    """The attempt that answers: its trial, its wire, and what it sent."""

    trial: Trial
    wire: Wire
    result: Opened | Rejected
    after_failure: bool  # an earlier attempt failed
    hedge: bool  # it was sent as a hedge for a slow attempt


@dataclass(frozen=True, slots=True)
class Exhausted:
    """No attempt answered: the last failure, if any attempt was made."""

    last: tuple[Target, Failure] | None


class Attempts:
    """Runs the attempts of one request (see the module docstring)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        connect: aiohttp.ClientTimeout,
        tuning: Tuning,
        ledger: Ledger,
        tails: TailBook,
        inbound: Inbound,
        gather: bool,
        candidates: Sequence[Candidate],
        resolve: Callable[[Candidate], tuple[Target, Wire, str] | None],
        left: asyncio.Future[None],
    ) -> None:
        self._session = session
        self._connect = connect
        self._tuning = tuning
        self._ledger = ledger
        self._tails = tails
        self._inbound = inbound
        self._gather = gather
        self._candidates = candidates
        self._resolve = resolve  # a candidate's target, wire and the route its stream counts as
        self._next = 0
        self._left = left
        self._hedging = tuning.hedge_quantile > 0 and (inbound.stream or gather)

    async def run(self) -> Answered | Exhausted | None:
        """The answer, or what ended the attempts; None if the caller left first."""
        running: list[Running] = []
        last: tuple[Target, Failure] | None = None
        try:
            while True:
                if not running:
                    retry = (
                        None if last is None else functools.partial(self._ledger.may_retry, *last)
                    )
                    started = self._start(hedge=False, budget=retry)
                    if started is None:
                        return Exhausted(last)
                    running.append(started)
                hedge_in = self._hedge_in(running)
                # Attempts race to their first output; a lone one that cannot be hedged is
                # awaited whole (one wake-up, not two, on the request path).
                racing = hedge_in is not None or len(running) > 1
                waiting: list[asyncio.Future[Result] | asyncio.Future[None]] = [
                    r.first if racing and r.first is not None else r.task for r in running
                ]
                done, _ = await asyncio.wait(
                    (*waiting, self._left), timeout=hedge_in, return_when=asyncio.FIRST_COMPLETED
                )
                if self._left.done():
                    return None
                if not done:  # the lone attempt is past its backend's tail
                    self._hedge(running)
                    continue
                for ended in [r for r in running if reached(r)]:
                    outcome = self._ended(ended, more=len(running) > 1 or self._more())
                    if outcome is None or isinstance(outcome, Failure):
                        running.remove(ended)
                        last = (ended.trial.target, outcome) if outcome is not None else last
                        continue
                    await self._cancel_all([r for r in running if r is not ended])
                    running[:] = [ended]
                    answered = await self._finish(ended, outcome, failed=last is not None)
                    if answered is None:  # the caller left: cancelled below
                        return None
                    running.clear()
                    if not isinstance(answered, Failure):
                        return answered
                    last = (ended.trial.target, answered)  # broke half way: the next may serve
                    break
        finally:
            if running:
                await self._cancel_all(running)

    def _start(self, *, hedge: bool, budget: Callable[[], bool] | None = None) -> Running | None:
        """The next candidate that can take the request, started; None when none is left, or
        when ``budget`` (a retry's or a hedge's draw on the retry budget, made only once there
        is a candidate to send it to) refuses."""
        resolved = None
        while resolved is None:  # a candidate gone, or one that cannot take this request
            if self._next >= len(self._candidates):
                return None
            resolved = self._resolve(self._candidates[self._next])
            if resolved is None:
                self._next += 1
        if budget is not None and not budget():
            return None  # the candidate stays for an attempt the budget allows later
        self._next += 1
        target, wire, route = resolved
        trial = self._ledger.attempting(target, route)
        # Only an attempt that may race (a hedge, or one a later candidate could hedge) is told
        # its first output apart from its whole answer, and timed for the tail book.
        first: asyncio.Future[Result] | None = None
        if self._hedging and (hedge or self._more()):
            first = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._attempt(target, wire, trial, first))
        if first is not None:
            task.add_done_callback(functools.partial(settle_first, first))
        began = time.perf_counter()
        return Running(trial, wire, first, task, began, hedge, timed=first is not None)

    async def _attempt(
        self, target: Target, wire: Wire, trial: Trial, first: asyncio.Future[Result] | None
    ) -> Result:
        """One attempt: up to its first output (told to ``first``, if it may race), then, in
        the same task, the rest of the answer before it starts (a gathered one whole)."""
        opened = await first_event(
            self._session,
            target,
            wire,
            self._inbound,
            self._tuning,
            self._connect,
            gather=self._gather,
        )
        if first is not None:
            first.set_result(opened)
        if not isinstance(opened, Opened):
            return opened
        return await rest_of(
            opened,
            target,
            wire,
            self._inbound,
            self._tuning,
            gather=self._gather,
            generated=trial.generated,
        )

    def _more(self) -> bool:
        return self._next < len(self._candidates)

    def _hedge_in(self, running: list[Running]) -> float | None:
        """Seconds until the lone attempt under way is slow enough to hedge; None: never."""
        if not self._hedging or len(running) != 1 or not running[0].timed or not self._more():
            return None
        after = self._tails.after(running[0].trial.target.key)
        if after is None:
            return None
        due = max(after, self._tuning.hedge_min_s)
        return max(0.0, due - (time.perf_counter() - running[0].began))

    def _hedge(self, running: list[Running]) -> None:
        """The lone attempt is slow: told so to the tail book, and hedged if the budget
        allows."""
        slow = running[0]
        slow.timed = False
        self._tails.overdue(slow.trial.target.key)
        hedge = self._start(
            hedge=True, budget=functools.partial(self._ledger.may_hedge, slow.trial.target)
        )
        if hedge is not None:
            running.append(hedge)

    def _ended(self, ended: Running, *, more: bool) -> Opened | Rejected | Failure | None:
        """An attempt's first event (or its failure) came; None when it is set aside for
        another (the backend has not the model, and another candidate may)."""
        # A task that ended without telling its first output raised or was cancelled: so does
        # reading it.
        first = ended.first
        result = first.result() if first is not None and first.done() else ended.task.result()
        if isinstance(result, Failure):
            self._ledger.failed(ended.trial, result)
            return result
        if ended.timed and isinstance(result, Opened):
            ended.timed = False  # told once: not overdue if it is cancelled later
            self._tails.observe(ended.trial.target.key, result.ttft_s)
        if isinstance(result, Rejected) and result.status == 404 and more:
            # This backend does not have the model (a pod still loading an adapter, a provider
            # without it): another may, and the caller is not at fault (vLLM answers 404 for a
            # LoRA adapter it has not loaded: serving_engine.py, ``_check_model``).
            self._ledger.failed_quietly(ended.trial)
            return None
        return result

    async def _finish(
        self, ended: Running, result: Opened | Rejected, *, failed: bool
    ) -> Answered | Failure | None:
        """The rest of the answer before it starts (a gathered one whole), or its failure;
        None if the caller left first."""
        if isinstance(result, Opened):
            if not ended.task.done():  # a gathered answer still coming
                await asyncio.wait((ended.task, self._left), return_when=asyncio.FIRST_COMPLETED)
                if not ended.task.done():
                    return None
            whole = ended.task.result()
            if isinstance(whole, Failure):
                self._ledger.failed(ended.trial, whole)
                return whole
            result = whole
        return Answered(ended.trial, ended.wire, result, failed, ended.hedge)

    async def _cancel_all(self, running: list[Running]) -> None:
        """Cancel the attempts under way; each ends before this returns (a result one reached
        meanwhile is closed), with no mark against its backend."""
        for r in running:
            r.task.cancel()
        if running:
            await asyncio.wait([r.task for r in running])
        now = time.perf_counter()
        for r in running:
            if not r.task.cancelled() and r.task.exception() is None:
                abandon(r.task.result())
            after = self._tails.after(r.trial.target.key)
            if r.timed and after is not None and now - r.began >= after:
                self._tails.overdue(r.trial.target.key)  # it was slow, whenever it would answer
            self._ledger.failed_quietly(r.trial)
        running.clear()
