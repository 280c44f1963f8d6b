"""How soon demand came back after the cost policy gave replicas back, and how much evidence the
next move down waits for in the light of it (pure: no clock, no I/O).

Giving a replica back is the ski-rental choice (docs/sources.md, Cost policy): keeping it costs
its GPU time above the cheaper plan for as long as demand stays low; giving it back costs a cold
start if demand returns. Without knowing when demand returns, waiting until keeping it has
overspent one cold start of GPU time is never worse than twice the best choice in hindsight,
and that is the rule until there is a history. A deployment's own history is a prediction:
learning-augmented ski rental (Purohit, Svitkina and Kumar, NeurIPS 2018) trusts it by a factor
``LAMBDA`` and stays bounded when it is wrong. If demand came back later than keeping the
replica would take to overspend a cold start, the next move down waits for only ``LAMBDA`` of
that evidence; if it came back sooner, for ``1 / LAMBDA`` of it. Right predictions cost at most
``1 + LAMBDA`` times the best choice, wrong ones ``1 + 1 / LAMBDA``.

The prediction is the median of the last ``REMEMBERED`` times from a move down to the next
moment a cheaper plan had more replicas (while demand has stayed away longer than that since the
last move down, that time instead): bursts that recur every hour teach the policy to give their
replicas back soon, demand that wanders around the break-even teaches it to hold on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import median

__all__ = ["LAMBDA", "REMEMBERED", "Returns", "down_evidence"]

LAMBDA = 0.5  # how far a prediction is trusted (0: blindly, 1: not at all)
REMEMBERED = 5  # moves down whose returns make the prediction


@dataclass
class Returns:
    """The deployment's history of how long demand stayed away after a move down."""

    released_at: float | None = None  # the last move down, while demand has not come back
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=REMEMBERED))

    def released(self, now: float) -> None:
        """Replicas were given back at ``now``."""
        self.released_at = now

    def rose(self, now: float) -> None:
        """A plan with more replicas became the cheaper at ``now``."""
        if self.released_at is not None:
            self.gaps.append(now - self.released_at)
            self.released_at = None

    def predicted_s(self, now: float) -> float | None:
        """Seconds demand is expected to stay away after a move down now; None without a
        history."""
        if not self.gaps:
            return None
        expected = median(self.gaps)
        if self.released_at is not None:
            expected = max(expected, now - self.released_at)
        return expected


def down_evidence(switch: float, overspend_per_hour: float, predicted_s: float | None) -> float:
    """Dollars of overspending a move down waits for, where ``switch`` is the cold-start GPU
    time of the replicas it removes and staying overspends ``overspend_per_hour``."""
    if predicted_s is None or overspend_per_hour <= 0:
        return switch
    hold_s = 3600.0 * switch / overspend_per_hour  # staying this long overspends ``switch``
    return switch * LAMBDA if predicted_s >= hold_s else switch / LAMBDA
