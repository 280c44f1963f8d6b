"""What a model's demand costs served by local replicas or by hosted providers, and how many
replicas make it cheapest (pure: no clock, no I/O).

Units: demand and capacity are output tokens per second (input tokens ride along at the measured
ratio of input to output tokens); a GPU costs dollars per hour; a provider charges dollars per
million input and output tokens. A replica carries at most its ``capacity``, the output tokens
per second it serves within the latency target; demand beyond what the replicas carry spills to
the providers (the router's ``Saturated`` spill).

One replica pays for itself when the demand it absorbs would cost more hosted than its GPUs
cost: the break-even is ``GPUs x gpu $/h / (3600 x hosted $ per output token)`` tokens per
second, so a replica of two GPUs needs twice the demand of a one-GPU replica. The cheapest plan
fills whole replicas and adds a last, partly used one only if its share of the demand is above
that break-even.

When to move to the cheapest plan is the ``governor``'s: switching costs a cold start, so it
moves only on evidence. Where the numbers come from: prices in ``prices``, a replica's capacity
in ``capacity`` (before it is measured, ``capacity_priors``); the sentence that explains a
decision in ``explain``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_operator.autoscaling.prices import LIST_PRICE, HostedQuote, cheapest
from gptoss_operator.autoscaling.turned_away import UNSERVED_SHARE, beyond_share

__all__ = [
    "DEFAULT_REPLICA_TOKENS_PER_S",
    "CostPolicy",
    "Demand",
    "Prices",
    "break_even_tokens_per_s",
    "cheapest_replicas",
    "hosted_dollars_per_hour",
    "plan_dollars_per_hour",
]

DEFAULT_REPLICA_TOKENS_PER_S = 1000.0  # only where no (model, product) prior applies
# Fewer requests than this over the demand meter's minute: the demand has ended. The smoothed
# rate of a single request decays for hours before it reaches zero, and without spill any
# demand at all would hold a replica for it.
IDLE_REQUESTS = 0.5


@dataclass(frozen=True)
class Prices:
    replica_hourly: float  # dollars per replica-hour: GPU price x GPUs per replica
    input_per_million: float  # hosted dollars per million input tokens
    output_per_million: float  # hosted dollars per million output tokens

    def per_output_token(self, input_per_output: float) -> float:
        """Hosted dollars per output token, with its share of input tokens."""
        return (self.output_per_million + input_per_output * self.input_per_million) / 1e6


@dataclass(frozen=True)
class Demand:
    tokens_per_s: float  # output tokens per second, local and spilled together
    input_per_output: float  # input tokens per output token
    # of requests no backend served: over the meter's minute (the share the latency goal
    # counts), and over the last tick alone (what to carry now; None: the minute's rate)
    unserved_tokens_per_s: float = 0.0
    unserved_tick_tokens_per_s: float | None = None
    tick_tokens_per_s: float | None = None  # all demand over the last tick alone
    # requests over the meter's minute (its rate times its window): what the unserved share is
    # a share of, to tell a share from chance (``turned_away``); None: the share alone decides
    requests_counted: float | None = None

    @property
    def idle(self) -> bool:
        """Whether the demand has ended: none, or fewer than ``IDLE_REQUESTS`` requests left in
        the meter's minute (when the count is known)."""
        if self.tokens_per_s <= 0:
            return True
        return self.requests_counted is not None and self.requests_counted < IDLE_REQUESTS

    @property
    def unserved_beyond_share(self) -> bool:
        """Whether more than ``UNSERVED_SHARE`` of the minute's demand went unserved, by more
        than chance gives a count of ``requests_counted``."""
        if self.tokens_per_s <= 0 or self.unserved_tokens_per_s <= 0:
            return False
        share = self.unserved_tokens_per_s / self.tokens_per_s
        if self.requests_counted is None:
            return share > UNSERVED_SHARE
        return beyond_share(share * self.requests_counted, self.requests_counted)

    @property
    def unserved_now(self) -> float:
        """Output tokens/s no backend served in the last tick (the minute's when not given):
        what replicas must carry on top of the ready ones, none once the failures stop."""
        tick = self.unserved_tick_tokens_per_s
        return self.unserved_tokens_per_s if tick is None else tick


def hosted_dollars_per_hour(tokens_per_s: float, demand: Demand, prices: Prices) -> float:
    """What ``tokens_per_s`` of output (with their input) costs per hour at the providers."""
    return 3600.0 * max(tokens_per_s, 0.0) * prices.per_output_token(demand.input_per_output)


def break_even_tokens_per_s(demand: Demand, prices: Prices) -> float:
    """Output tokens/s at which one replica costs what the same demand costs hosted."""
    per_token = prices.per_output_token(demand.input_per_output)
    return math.inf if per_token <= 0 else prices.replica_hourly / (3600.0 * per_token)


def plan_dollars_per_hour(replicas: int, demand: Demand, capacity: float, prices: Prices) -> float:
    """GPUs of ``replicas`` plus the hosted cost of what they cannot carry."""
    overflow = demand.tokens_per_s - replicas * capacity
    return replicas * prices.replica_hourly + hosted_dollars_per_hour(overflow, demand, prices)


def cheapest_replicas(demand: Demand, capacity: float, prices: Prices, lo: int, hi: int) -> int:
    """The replicas in ``[lo, hi]`` whose plan costs least (the fewer on a tie)."""
    counts = range(lo, max(lo, hi) + 1)
    return min(counts, key=lambda n: (plan_dollars_per_hour(n, demand, capacity, prices), n))


@dataclass(frozen=True)
class CostPolicy:
    min_replicas: int
    max_replicas: int
    cold_start_s: float
    prices: Prices  # the replica's hourly price; the hosted price when ``quotes`` is empty
    may_spill: bool  # providers may take the overflow; if not, replicas must carry it all
    capacity_prior: float = DEFAULT_REPLICA_TOKENS_PER_S  # a replica's, until measured
    gpus: int = 1  # per replica (its tensor parallel size)
    product: str = "GPU"
    provider: str = LIST_PRICE  # where the hosted side of ``prices`` comes from
    quotes: tuple[HostedQuote, ...] = ()  # the router's admissible providers, if it has a table
    billing_s: float = 1.0  # GPU time is billed in whole periods of this many seconds
    burst_standby_s: float = 0.0  # keep replicas warm this long after a burst past the providers

    @property
    def commitment_s(self) -> float:
        """The least GPU time a replica bought costs: its cold start, or a billing period."""
        return max(self.cold_start_s, self.billing_s)

    def paid_left_s(self, age_s: float) -> float:
        """Seconds a replica of ``age_s`` has left of the billing period it is in (0 when
        billed by the second)."""
        if self.billing_s <= 1.0:
            return 0.0
        return self.billing_s - (age_s % self.billing_s)

    @property
    def gpu_hourly(self) -> float:
        return self.prices.replica_hourly / max(self.gpus, 1)

    def priced(self, input_per_output: float) -> tuple[Prices, str]:
        """The prices to compare at this ratio of input to output tokens, and the provider
        whose they are: the cheapest admissible one when the router's table is known."""
        best = cheapest(self.quotes, input_per_output)
        if best is None:
            return self.prices, self.provider
        hosted = Prices(self.prices.replica_hourly, best.input_per_million, best.output_per_million)
        return hosted, best.provider
