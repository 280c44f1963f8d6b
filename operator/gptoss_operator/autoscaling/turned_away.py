"""Whether the providers turned away more of the demand than the latency goal lets miss (pure).

The latency goal lets 1 % of requests miss (``UNSERVED_SHARE``). Above that share, requests no
backend served (``gptoss_router_requests_total{backend="none"}``: every provider answered 429
or failed) say that the providers cannot take the overflow, and the cost policy buys replicas
to carry it whatever they cost (``governor``, reason ``ProvidersFull``).

A share of a small count is not evidence. At the demand of one replica, a minute holds a few
dozen requests: one request turned away is already a share of 2 to 3 %, and it happens by
chance wherever a provider enforces its limit over short periods (OpenAI's limits, for one,
may be enforced per second; docs/sources.md, Providers). A replica bought for it costs a cold
start of GPU time and carries nothing the providers would not have. So the count must also be
more than a 1 % share could give by chance: above the ``CONFIDENCE`` quantile of a Poisson
count whose mean is 1 % of the requests. With sixty requests it takes four turned away, with
ten it takes two (one suffices only in a minute of a single request), and with 100,000 it takes
1,075, a share of 1.07 %.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["CONFIDENCE", "UNSERVED_SHARE", "beyond_share", "poisson_quantile"]

# Requests no backend served, as a share of the demand, above which the providers are taken to
# be full: the share the latency goal lets miss (99 % within target).
UNSERVED_SHARE = 0.01
CONFIDENCE = 0.99  # how sure a count must make us that the share is above UNSERVED_SHARE


def poisson_quantile(mean: float, confidence: float = CONFIDENCE) -> int:
    """The least ``k`` with P(X <= k) >= ``confidence`` for X ~ Poisson(``mean``)."""
    if mean <= 0:
        return 0
    if mean > 50:  # the normal approximation, where exp(-mean) loses its precision
        return math.ceil(mean + NormalDist().inv_cdf(confidence) * math.sqrt(mean))
    term = math.exp(-mean)
    k, total = 0, term
    while total < confidence:
        k += 1
        term *= mean / k
        total += term
    return k


def beyond_share(unserved: float, requests: float) -> bool:
    """Whether ``unserved`` requests out of ``requests`` (counts over the same period) are more
    than ``UNSERVED_SHARE`` of them, beyond what chance gives a count that small."""
    if unserved <= 0 or unserved <= UNSERVED_SHARE * requests:
        return False
    return unserved > poisson_quantile(UNSERVED_SHARE * max(requests, 0.0))
