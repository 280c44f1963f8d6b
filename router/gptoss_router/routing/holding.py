"""Holding requests that only a local pod may take while none can, up to a bound, and requests
that only spent providers could take, until the first is back.

A model that may not spill (no provider allowed, or its spillover policy excludes the reason,
such as scaled to zero) would otherwise answer 503 while its first replica loads. Instead the
request waits: it is planned again whenever something that could let it through changes (a
pod appears or is scraped, an ejected backend is readmitted, see ``Wakeup``) and at least every
``RECHECK_S`` (ejections also end by time). The wait is bounded twice: ``hold_timeout_s`` per
request and ``max_held`` per model; past either the caller gets 503 with ``Retry-After``. A
caller that disconnects stops waiting at once. Held requests show in
``gptoss_router_held_requests{model}``, which the operator's autoscaler counts as demand.

A provider that answers 429 says when its limit resets, and limits enforced per second (as
OpenAI says its per-minute limits may be; docs/sources.md, Cost policy) reset within one. A
request that only such providers could take (``Plan.back_in_s``) waits for the first reset when
it comes within ``spent_wait_s``, planned again at the reset, rather than fail at once; past
``spent_wait_s`` in all, it gets the provider's own answer, 429 with the next reset as
``Retry-After``.

Nothing here runs unless a plan asks to hold, so the request path pays nothing for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from starlette.types import Receive

from gptoss_router.config.tuning import Tuning
from gptoss_router.errors import ClientLeft, NoBackend, NotHeld, ProvidersSpent
from gptoss_router.metrics import RouterMetrics
from gptoss_router.routing.policy import Plan

__all__ = ["RECHECK_S", "Holds", "Wakeup", "nothing_to_try"]

RECHECK_S = 0.5


class Wakeup:
    """Wakes every held request at once when routing may have changed; free when none waits."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def fire(self) -> None:
        """Something changed: every current waiter plans again."""
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    def event(self) -> asyncio.Event:
        """The event the next ``fire`` sets."""
        if self._event is None:
            self._event = asyncio.Event()
        return self._event


class Holds:
    """Held requests per model, within the bounds of ``tuning``."""

    def __init__(self, wakeup: Wakeup, metrics: RouterMetrics, tuning: Tuning) -> None:
        self._wakeup = wakeup
        self._metrics = metrics
        self._timeout_s = tuning.hold_timeout_s
        self._max_held = tuning.max_held
        self._retry_after_s = tuning.hold_retry_after_s
        self._spent_wait_s = tuning.spent_wait_s
        self._held: dict[str, int] = {}

    def held(self, model: str) -> int:
        """Requests for ``model`` waiting now."""
        return self._held.get(model, 0)

    async def hold(
        self, model: str, replan: Callable[[], Plan], receive: Receive, first: Plan | None = None
    ) -> Plan:
        """Wait until ``replan()`` gives candidates (or stops asking to hold) and return it;
        ``first`` is the plan that asked to hold. One waiting for a spent provider
        (``back_in_s``) that is not back in time comes back with ``hold`` off, for the request
        path to answer as the providers would (``nothing_to_try``).

        Raises ``NotHeld`` past the bounds of a wait for a local pod, and ``ClientLeft`` if the
        caller disconnects.
        """
        latest = first
        provider = first is not None and first.back_in_s is not None
        if self.held(model) >= self._max_held:
            self._metrics.holds.labels(model, "full").inc()
            if first is not None and provider:
                return replace(first, hold=False)
            raise NotHeld(
                f"Too many requests for '{model}' are already waiting for a local replica.",
                model=model,
                retry_after=self._retry_after_s,
            )
        self._count(model, +1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._spent_wait_s if provider else self._timeout_s)
        left = asyncio.ensure_future(_disconnected(receive))
        outcome = "timeout"
        try:
            while (remaining := deadline - loop.time()) > 0:
                back = latest.back_in_s if latest is not None else None
                changed = asyncio.ensure_future(self._wakeup.event().wait())
                try:
                    await asyncio.wait(
                        (changed, left),
                        timeout=min(remaining, RECHECK_S, RECHECK_S if back is None else back),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    changed.cancel()
                if left.done():
                    outcome = "left"
                    raise ClientLeft(
                        "The client disconnected while its request was held.", model=model
                    )
                outcome = "released"
                plan = replan()
                if plan.candidates or not plan.hold:
                    return plan
                latest = plan
                outcome = "timeout"
        finally:
            left.cancel()
            self._count(model, -1)
            self._metrics.holds.labels(model, outcome).inc()
        if latest is not None and latest.back_in_s is not None:
            return replace(latest, hold=False)
        unserved = ", ".join(sorted(_SAID.get(f, f) for f in first.unserved)) if first else ""
        spill = (
            f"no provider it may spill to serves {unserved}"
            if unserved
            else "the model may not spill to a provider"
        )
        raise NotHeld(
            f"No local replica of '{model}' could take the request within "
            f"{self._timeout_s:g} s, and {spill}.",
            model=model,
            retry_after=self._retry_after_s,
        )

    def _count(self, model: str, delta: int) -> None:
        self._held[model] = self.held(model) + delta
        self._metrics.held.labels(model).inc(delta)


# How a held request's unserved features are named to the caller (else by their own names).
_SAID = {"choices": "n above 1", "penalties": "frequency_penalty or presence_penalty"}


async def _disconnected(receive: Receive) -> None:
    # The body has been read: the next message the server has for this request is its end.
    while (await receive())["type"] != "http.disconnect":
        pass


def nothing_to_try(model: str, back_in_s: float | None) -> NoBackend:
    """The answer to a request no backend could be tried for: the providers' own 429 with the
    first reset when only spent providers could take it, else 503."""
    if back_in_s is not None:
        return ProvidersSpent(
            f"Every provider that may serve '{model}' is over its rate limit.",
            model=model,
            retry_after=back_in_s,
        )
    return NoBackend(f"No backend can serve '{model}' right now.")
