"""Replicas kept warm for bursts the hosted providers cannot take (pure: no clock, no I/O).

The cost policy spills what its replicas cannot carry, but providers have rate limits: a burst
past all of them together finds no backend, and with no replica ready those requests fail for
the whole cold start of the replicas ``ProvidersFull`` then buys. No policy that knows only the
past can have a replica ready for the first such burst; it can for the next ones, by keeping a
standby while such bursts keep recurring (``spec.autoscaling.burstStandby``).

What the providers take is learned, never configured: a tick in which the router found no
backend for more than 1 % of the demand (the share the latency goal lets miss) is one in which
the providers took all they would, so what they served in that tick moves the estimate, as a
saturated replica moves its own; their rate smoothed over the demand meter's minute (the unit
of their rate limits, so a second's burst within a minute's limit does not count), when it is
higher and nothing was turned away, raises it. A tick in which they served nothing at all is an
outage, not a rate limit: it is a burst (a standby would have served it), but teaches no limit.
Once known, demand past that estimate is a burst even while replicas carry it, so a standby that
absorbs the bursts does not hide them and is not let go because it works. A partial outage
(some providers failing, the others full) does lower the estimate; it rises again as soon as
the providers are seen serving more.

``BurstMemory`` remembers each burst (its start, its last tick, and how far past the providers
it went). For ``window_s`` after the last one it asks for the replicas that carry the largest
of them, at least one; after a whole window without a burst it asks for none, and the cost rule
gives the replicas back with its usual evidence. Blind ticks (a router's or a replica's metrics
missing) are not observed: a silent router would look like providers serving nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gptoss_operator.autoscaling.capacity import updated_capacity
from gptoss_operator.autoscaling.turned_away import UNSERVED_SHARE, beyond_share

__all__ = ["Burst", "BurstMemory", "Standby"]

_KEPT = 256  # bursts remembered at most (older ones leave the window first anyway)


@dataclass(frozen=True)
class Burst:
    start: float
    last: float  # the last tick it was seen
    excess: float  # output tokens/s past what the providers take, at its peak


@dataclass(frozen=True)
class Standby:
    """What the memory asks for now, and the figures it rests on (for ``explain``)."""

    replicas: int
    excess: float  # the largest burst in the window, output tokens/s past the providers
    providers: float  # output tokens/s the providers take, as learned (inf: never saw them full)
    bursts: int  # in the window
    since_s: float  # since the last one was seen
    window_s: float


@dataclass
class BurstMemory:
    providers: float | None = None  # output tokens/s the providers take at most, once seen full
    bursts: list[Burst] = field(default_factory=list)

    def observe(
        self,
        now: float,
        *,
        demand: float,
        hosted: float,
        hosted_tick: float,
        unserved: float,
        tick_s: float,
        blind: bool = False,
        output_per_request: float | None = None,
    ) -> None:
        """One tick's figures, output tokens/s: ``demand`` (smoothed, local and spilled),
        ``hosted`` (what providers served, smoothed over the same window), ``hosted_tick`` and
        ``unserved`` (what providers served and what no backend served, during this tick
        alone). A ``blind`` tick teaches nothing: a router that did not answer looks like
        providers serving nothing. With ``output_per_request``, the tick's unserved requests
        must also be beyond chance (``turned_away``): one request turned away is no limit."""
        if blind:
            return
        full = demand > 0 and unserved > UNSERVED_SHARE * demand
        if full and output_per_request:
            counted = tick_s / output_per_request
            full = beyond_share(unserved * counted, demand * counted)
        if full and hosted_tick > 0:  # they took all they would; the smoothed rate would lag
            known = self.providers
            self.providers = (
                hosted_tick
                if known is None
                else updated_capacity(known, hosted_tick, saturated=True)
            )
        elif self.providers is not None:
            self.providers = max(self.providers, hosted)
        excess = unserved if full else 0.0
        if self.providers is not None:
            excess = max(excess, demand - self.providers)
        if demand <= 0 or excess <= UNSERVED_SHARE * demand:
            return
        previous = self.bursts[-1] if self.bursts else None
        if previous is not None and now - previous.last <= tick_s * 1.5:
            self.bursts[-1] = Burst(previous.start, now, max(previous.excess, excess))
        else:
            self.bursts.append(Burst(now, now, excess))
            del self.bursts[:-_KEPT]

    def standby(
        self, now: float, *, window_s: float, capacity: float, max_replicas: int
    ) -> Standby | None:
        """The replicas to keep warm now (None: no burst within ``window_s``)."""
        self.bursts = [b for b in self.bursts if now - b.last <= window_s]
        if window_s <= 0 or not self.bursts or max_replicas < 1:
            return None
        peak = max(b.excess for b in self.bursts)
        wanted = math.ceil(peak / capacity) if capacity > 0 else 1
        return Standby(
            replicas=min(max_replicas, max(1, wanted)),
            excess=peak,
            providers=math.inf if self.providers is None else self.providers,
            bursts=len(self.bursts),
            since_s=now - self.bursts[-1].last,
            window_s=window_s,
        )
