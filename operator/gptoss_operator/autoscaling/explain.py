"""The cost policy's decision in plain words, for the CR's status and Events (pure).

The sentence leads with the verdict and the two numbers it rests on, the demand and the
break-even, then names what the break-even is made of (the replica's GPUs and their price, the
provider and its price), so that a reader can check it by hand:

    hosted is cheaper: demand 310 tok/s, break-even 1,533 tok/s for 2 x H100-80GB at
    $2.69/h against groq at $0.15/$0.60 per M tokens

The figures compared follow after a semicolon (the plans' dollars per hour, the capacity per
replica, and while the policy waits, the evidence gathered so far).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Facts", "StandbyFacts", "sentence"]


@dataclass(frozen=True)
class StandbyFacts:
    """Why replicas are kept warm for bursts past the providers (``standby``)."""

    replicas: int
    excess: float  # output tokens/s past the providers, the largest burst in the window
    providers: float  # output tokens/s the providers take, as learned
    bursts: int  # in the window
    since_s: float  # since the last one
    window_s: float
    extra_cost: float  # $/h above the cheapest plan without the standby


@dataclass(frozen=True)
class Facts:
    """What the cost policy compared in one decision."""

    demand: float  # output tokens/s
    unserved: float  # output tokens/s no backend served in the last tick
    input_per_output: float
    capacity: float  # output tokens/s per replica
    current: int
    best: int
    current_cost: float  # $/h of ``current`` replicas plus their overflow hosted
    best_cost: float
    hosted_cost: float  # $/h of all the demand hosted
    break_even: float  # output tokens/s
    gpus: int
    product: str
    gpu_hourly: float
    provider: str
    input_per_million: float
    output_per_million: float
    may_spill: bool
    overspent: float  # $ of evidence for a move so far
    switch_cost: float  # $ of evidence a move needs
    held_s: float  # how long the cheaper plan has been the same
    hold_s: float  # how long the cheaper plan must hold to buy: a cold start
    paid_left_s: float  # of the newest replica's billing period
    tick_demand: float = math.nan  # output tokens/s over the last tick alone
    standby: StandbyFacts | None = None  # when the standby sets the count


def _rate(tokens_per_s: float) -> str:
    return "no break-even" if math.isinf(tokens_per_s) else f"{tokens_per_s:,.0f} tok/s"


def _replicas(n: int) -> str:
    return f"{n} replica" + ("" if n == 1 else "s")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    if minutes < 1:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours} h {minutes} min"
        if hours and minutes
        else f"{hours} h"
        if hours
        else f"{minutes} min"
    )


def _standby(s: StandbyFacts) -> str:
    times = "once" if s.bursts == 1 else f"{s.bursts} times"
    return (
        f"{_replicas(s.replicas)} kept warm for bursts the providers cannot take: demand went "
        f"past what they take ({_rate(s.providers)}) {times} in the last "
        f"{_duration(s.window_s)}, by up to {_rate(s.excess)}, the last {_duration(s.since_s)} "
        f"ago; ${s.extra_cost:.2f}/h above the cheapest plan until a burstStandby of "
        f"{_duration(s.window_s)} passes without one"
    )


_BOUNDS = {"BelowMinReplicas": "at least: minReplicas", "AboveMaxReplicas": "at most: maxReplicas"}


def _settled(reason: str, f: Facts) -> str:
    """The verdict of a move taken, or of holding at the cheapest plan."""
    if not f.may_spill and f.best == 0:
        return (
            "the demand has ended: no replica, and as nothing may spill, the next request "
            "waits for one to start"
        )
    if f.best == 0:
        return "hosted is cheaper"
    if reason == "HostedCheaper":
        rest = ", the rest hosted" if f.may_spill else ""
        return f"fewer replicas are cheaper: {_replicas(f.best)}{rest}"
    return f"local is cheaper with {_replicas(f.best)}"


def sentence(reason: str, f: Facts) -> str:
    """``reason`` (the decision's CamelCase reason) said in words, with its figures."""
    basis = (
        f"demand {_rate(f.demand)}, break-even {_rate(f.break_even)} for {f.gpus} x "
        f"{f.product} at ${f.gpu_hourly:.2f}/h against {f.provider} at "
        f"${f.input_per_million:g}/${f.output_per_million:g} per M tokens"
    )
    if reason == "LatencyBound":
        verdict = (
            f"{_replicas(f.best)} needed to carry the demand: nothing may spill "
            f"(no provider allowed for Saturated within the price cap)"
        )
    elif reason == "ProvidersFull":
        verdict = (
            f"{_replicas(f.best)} needed at once: the providers turned {_rate(f.unserved)} "
            f"away (rate limits or errors)"
        )
    elif reason == "BurstStandby" and f.standby is not None:
        verdict = _standby(f.standby)
    elif reason in _BOUNDS:
        verdict = f"{_replicas(f.best)} {_BOUNDS[reason]}"
    elif reason == "MetricsMissing":
        verdict = (
            f"hosted would be cheaper with {_replicas(f.best)} on the metrics read, but some "
            f"are missing: no replica is given back, nor evidence for it gathered, until "
            f"they answer"
        )
    elif reason == "Measuring":
        side = "hosted" if f.may_spill else "fewer replicas"
        verdict = (
            f"{side} would be cheaper with {_replicas(f.best)} on the demand measured so far, "
            f"less than a minute since the operator started: no replica is given back, nor "
            f"evidence for it gathered, until a whole minute is measured"
        )
    elif reason == "WithinColdStartCost":
        side = "local" if f.best > f.current else "hosted" if f.may_spill else "fewer replicas"
        verdict = (
            f"{side} would be cheaper with {_replicas(f.best)}, waiting for evidence: "
            f"overspent ${f.overspent:.3f} of ${f.switch_cost:.3f}"
            + (f", or {f.held_s:.0f} of {f.hold_s:.0f} s" if f.best > f.current else "")
        )
    elif reason == "RiseEnded":
        verdict = (
            f"local would be cheaper with {_replicas(f.best)} on the minute's demand, but the "
            f"last tick's {_rate(f.tick_demand)} no longer calls for them"
        )
    elif reason == "WithinPaidPeriod":
        verdict = (
            f"hosted would be cheaper with {_replicas(f.best)}, keeping the replicas paid for: "
            f"{f.paid_left_s:.0f} s left of the newest one's billing period"
        )
    else:
        verdict = _settled(reason, f)
    plans = f"{_replicas(f.current)} ${f.current_cost:.2f}/h"
    if f.best != f.current:
        plans += f", {_replicas(f.best)} ${f.best_cost:.2f}/h"
    figures = (
        f"{plans}, all hosted ${f.hosted_cost:.2f}/h; {f.capacity:,.0f} tok/s per replica, "
        f"{f.input_per_output:.1f} input tokens per output token"
    )
    return f"{verdict}: {basis}; {figures}"
