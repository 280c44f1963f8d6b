"""Decide where a request goes: an ordered list of candidates (pure).

1. Local pods with free capacity come first; their marginal cost is a GPU already paid for.
   A request whose conversation has a prefix key goes to the pod that holds its prefix: the pod
   its last turn went to while that one is free and within the load bound, else by consistent
   hashing with bounded load (``affinity.py``). The other free pods follow in ring order for
   failover. A request without a key takes the less loaded of two random choices on queue
   depth (P2C, as Envoy's LEAST_REQUEST and Finagle do; docs/sources.md, Failover), the other
   free pods following.
2. Providers follow when the model's spillover allows it for the reason local cannot serve:
   those meeting the latency target by expected cost, then the rest by expected latency.
   Providers that cannot serve the request's features, are ejected, say their rate limit is
   spent, are not allowed for the model or cost more than the cap are never candidates.
3. Pods that are up but saturated come last, so the request queues locally rather than fail.

A plan with no candidate at all *holds* the request when a local pod is the only thing that
could ever take it: the request may use local pods and no provider is allowed to, whether by
the spillover policy, the app, the price cap or the features it needs. It also holds, briefly,
when the providers it may use are only spent, the first of them back within ``spent_wait_s``
(limits enforced per second reset within one; ``holding``): the request then waits for that
reset rather than fail. Spent providers back later do not hold: the request is answered at
once with 429 and the first reset as ``Retry-After``; ejected ones do not either (503).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from gptoss_router.config.models import SpillCondition
from gptoss_router.config.prices import Price, PriceCap
from gptoss_router.routing.affinity import Ring, choose, ring_order, within_bound
from gptoss_router.state.speed import SpeedEstimate

__all__ = [
    "Candidate",
    "Demand",
    "Limits",
    "Plan",
    "PodView",
    "ProviderView",
    "SpillReason",
    "expected_cost",
    "plan",
]

# ``unsupported``: the local pods cannot serve what the request needs (e.g. a follow-up turn by
# ``previous_response_id``, which vLLM pods do not keep), so only providers that can may take it.
SpillReason = Literal[
    "scaled_to_zero", "unavailable", "saturated", "hosted_only", "unsupported", "slow"
]


@dataclass(frozen=True, slots=True)
class PodView:
    """One local pod as routing sees it."""

    key: str
    waiting: int
    running: int
    inflight: int
    fresh: bool
    ejected: bool
    warming: bool = False  # new, its hot prefixes being cached: not fresh yet, not failing


@dataclass(frozen=True, slots=True)
class ProviderView:
    """One provider that serves the requested model."""

    key: str
    price: Price
    speed: SpeedEstimate
    capabilities: frozenset[str]
    ejected: bool
    spent: bool
    back_in_s: float = 0.0  # while spent: seconds until the reset it announced


@dataclass(frozen=True, slots=True)
class Limits:
    """What this request may use: the model's spillover policy narrowed by app and headers."""

    local: bool
    hosted: bool
    providers: frozenset[str] | None
    max_price: PriceCap
    spill_when: frozenset[SpillCondition]
    latency_target_s: float
    max_queue_depth: int
    max_inflight: int
    # The namespaces whose pods may serve it (None: any); pods listed statically have none.
    namespaces: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Demand:
    """What the request needs and its expected size."""

    features: frozenset[str]
    input_tokens: int
    output_tokens: int
    # The features of another way to serve it (a Responses request through Chat Completions).
    fallback: frozenset[str] | None = None
    # The hash naming its conversation (affinity.prefix_key), and the pod its last turn went to.
    prefix: int | None = None
    pinned: str | None = None

    def fits(self, capabilities: frozenset[str]) -> bool:
        """Whether a backend with ``capabilities`` can serve the request one way or the other."""
        return self.features <= capabilities or (
            self.fallback is not None and self.fallback <= capabilities
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A backend to try."""

    kind: Literal["local", "hosted"]
    key: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Candidates in order, why the request spills (None when local leads), and whether an
    empty plan should wait: for a local pod, or (``back_in_s`` set) for a spent provider."""

    candidates: tuple[Candidate, ...]
    spill: SpillReason | None
    hold: bool = False
    prefix: int | None = None  # the conversation's key, when affinity chose the local order
    # An empty plan that only spent providers could take: seconds until the first is back.
    back_in_s: float | None = None
    # What the request asks that no provider it may spill to serves (a held plan's reason).
    unserved: frozenset[str] = frozenset()


def expected_cost(price: Price, demand: Demand) -> float:
    """Dollars this request is expected to cost at ``price`` (per million tokens)."""
    return (demand.input_tokens * price.input + demand.output_tokens * price.output) / 1e6


def plan(
    pods: list[PodView],
    providers: list[ProviderView],
    demand: Demand,
    limits: Limits,
    rng: random.Random,
    local_capabilities: frozenset[str] | None = None,
    ring: Ring | None = None,
    spent_wait_s: float = 0.0,
) -> Plan:
    """Order the candidates for one request; local pods only if they can serve its features
    (``local_capabilities``; None: anything); by prefix affinity on ``ring`` when the demand
    has a prefix key. An empty plan waits up to ``spent_wait_s`` for a spent provider."""
    capable = local_capabilities is None or demand.fits(local_capabilities)
    alive = [p for p in pods if not p.ejected and p.fresh] if limits.local and capable else []
    free = [p for p in alive if _has_room(p, limits)]
    busy = sorted((p for p in alive if not _has_room(p, limits)), key=_load)
    hosted = rank_providers(providers, demand, limits) if limits.hosted else []
    reason: SpillReason | None
    if not limits.local:
        reason = "hosted_only"
    elif not capable:
        reason = "unsupported"
    elif free:
        reason = None
    elif not pods or all(p.warming and not p.ejected for p in pods):
        reason = "scaled_to_zero"  # a first replica still warming is part of its cold start
    elif not alive:
        reason = "unavailable"
    else:
        reason = "saturated"
    may_spill = reason in ("hosted_only", "unsupported") or SpillCondition(
        reason or "unavailable"
    ) in (limits.spill_when)
    order = [Candidate("local", p.key) for p in _local_first(free, demand, ring, rng)]
    if may_spill:
        order += [Candidate("hosted", p.key) for p in hosted]
    order += [Candidate("local", p.key) for p in busy]
    if not order:
        hosted_may = may_spill and limits.hosted
        if limits.local and capable and not (hosted_may and _permitted(providers, demand, limits)):
            unserved = _unserved(providers, demand, limits) if hosted_may else frozenset()
            return Plan(candidates=(), spill=None, hold=True, unserved=unserved)
        back = _first_back(providers, demand, limits) if hosted_may else None
        hold = back is not None and spent_wait_s > 0 and back <= spent_wait_s
        return Plan(candidates=(), spill=None, hold=hold, back_in_s=back)
    spill = reason if may_spill and hosted and order[0].kind == "hosted" else None
    return Plan(candidates=tuple(order), spill=spill)


def _first_back(providers: list[ProviderView], demand: Demand, limits: Limits) -> float | None:
    """Seconds until the first provider that is only spent (not ejected) may take the request
    again; None if none is."""
    backs = [
        p.back_in_s
        for p in providers
        if p.spent and not p.ejected and _permitted([p], demand, limits)
    ]
    return min(backs, default=None)


def _unserved(providers: list[ProviderView], demand: Demand, limits: Limits) -> frozenset[str]:
    """The request's features that keep the providers it may otherwise use from serving it
    (each provider lacks one of them at least)."""
    allowed = [
        p
        for p in providers
        if (limits.providers is None or p.key in limits.providers)
        and limits.max_price.admits(p.price)
    ]
    if not allowed:
        return frozenset()
    return frozenset.union(*(demand.features - p.capabilities for p in allowed))


def _permitted(providers: list[ProviderView], demand: Demand, limits: Limits) -> bool:
    """Whether any provider may take the request once it is back (ejection, limits aside)."""
    return any(
        (limits.providers is None or p.key in limits.providers)
        and limits.max_price.admits(p.price)
        and demand.fits(p.capabilities)
        for p in providers
    )


def rank_providers(
    providers: list[ProviderView], demand: Demand, limits: Limits
) -> list[ProviderView]:
    """Usable providers: within the target by cost, then the others by latency."""
    usable = [
        p
        for p in providers
        if not p.ejected
        and not p.spent
        and (limits.providers is None or p.key in limits.providers)
        and limits.max_price.admits(p.price)
        and demand.fits(p.capabilities)
    ]
    seconds = {p.key: p.speed.seconds_for(demand.output_tokens) for p in usable}
    fast = [p for p in usable if seconds[p.key] <= limits.latency_target_s]
    slow = [p for p in usable if seconds[p.key] > limits.latency_target_s]
    fast.sort(key=lambda p: (expected_cost(p.price, demand), seconds[p.key]))
    slow.sort(key=lambda p: (seconds[p.key], expected_cost(p.price, demand)))
    return fast + slow


def _has_room(pod: PodView, limits: Limits) -> bool:
    return pod.waiting < limits.max_queue_depth and pod.inflight < limits.max_inflight


def _load(pod: PodView) -> tuple[int, int]:
    # The scrape lags; the router's own in-flight count is a floor on what the pod holds.
    return pod.waiting, max(pod.running + pod.waiting, pod.inflight)


def _local_first(
    free: list[PodView], demand: Demand, ring: Ring | None, rng: random.Random
) -> list[PodView]:
    if demand.prefix is None or ring is None or len(free) < 2:
        return _p2c_first(free, rng)
    by_key = {p.key: p for p in free}
    loads = {p.key: _weight(p) for p in free}
    pinned = demand.pinned
    if pinned is not None and pinned in loads and within_bound(loads, pinned):
        chosen: str | None = pinned
    else:
        chosen = choose(ring, demand.prefix, loads)
    ordered = ring_order(ring, demand.prefix, list(by_key))
    rest = [k for k in ordered if k != chosen] + [k for k in by_key if k not in ordered]
    return [by_key[k] for k in ([chosen] if chosen else []) + rest]


def _weight(pod: PodView) -> int:
    """A pod's load for bounded-load hashing: what it runs and queues, as scraped, or what the
    router replicas have in flight on it, whichever is more (the scrape lags)."""
    return max(pod.running + pod.waiting, pod.inflight)


def _p2c_first(free: list[PodView], rng: random.Random) -> list[PodView]:
    if len(free) < 2:
        return free
    a, b = rng.sample(free, 2)
    first = a if _load(a) <= _load(b) else b
    return [first, *sorted((p for p in free if p is not first), key=_load)]
