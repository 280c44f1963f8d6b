"""What the cost policy has learned about one GptOssDeployment, as ``status.autoscaling.learned``
(pure: no clock, no I/O; the write seam is ``remembering``).

The cost policy learns three things that outlive a decision: a replica's capacity (its first
saturated ticks replace the published prior, which can be off by a factor), what the providers
take and the bursts past it (``standby``: the replicas ``burstStandby`` keeps warm), and how soon
demand came back after each move down (``returns``). Kept only in the operator's memory, all of
it would be lost at every rollout of the operator, every drain of its node and every change of
leader: the next leader would price replicas at the prior again and let a standby go between
two bursts. Kept in the CR's status, the next operator starts where the last one stopped.

Times are kept as wall-clock timestamps (the operator's own clock is monotonic and starts
afresh with the process), at whole seconds: against a ``burstStandby`` of hours or a cold start
of minutes, the clock offset between two nodes does not matter.

What is read back is checked, since anyone with access to the status subresource can write it
(and an older operator may have written less): a capacity learned for another model, GPU or
tensor-parallel size, or what providers took when the CR spilled to others, is dropped with a
problem said; so is any figure that is not a finite, positive number, or a time that does not
parse. What passes is kept; nothing read back can make the policy act on a figure it could not
have learned itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gptoss_operator.autoscaling.capacity import FIRST_SAMPLES, CapacityEstimate
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.economics import CostPolicy
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.returns import REMEMBERED, Returns
from gptoss_operator.autoscaling.standby import Burst, BurstMemory

__all__ = ["KEPT_BURSTS", "Subject", "learned_status", "restored_state"]

KEPT_BURSTS = 32  # the latest bursts kept in status (the largest in a window sizes the standby)
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SHOWN = 80  # characters of a value read back that a problem quotes


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


@dataclass(frozen=True)
class Subject:
    """What the figures were learned of: a replica (model, GPUs and product) and the providers
    the CR spills to; figures learned of another are not read back."""

    replica: str  # e.g. "gpt-oss-120b on 2 x H100-80GB"
    providers: str  # the admissible providers, sorted, comma-separated ("" when none)

    @classmethod
    def of(cls, model: str, policy: CostPolicy) -> Subject:
        providers = ",".join(sorted({quote.provider for quote in policy.quotes}))
        return cls(f"{model} on {policy.gpus} x {policy.product}", providers)


@dataclass(frozen=True)
class _Clocks:
    now: float  # the operator's monotonic clock
    wall: float  # seconds since the epoch, at ``now``

    def stamp(self, t: float) -> str:
        at = dt.datetime.fromtimestamp(round(self.wall - (self.now - t)), dt.UTC)
        return at.strftime(_FORMAT)

    def read(self, text: object) -> float | None:
        """A timestamp as a time on the monotonic clock; None if it does not parse."""
        if not isinstance(text, str):
            return None
        try:
            at = dt.datetime.strptime(text, _FORMAT).replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        return self.now - (self.wall - min(at.timestamp(), self.wall))


def learned_status(
    state: CostState, subject: Subject, *, now: float, wall: float
) -> dict[str, Any]:
    """``status.autoscaling.learned`` for ``state``. Every key is present, ``None`` where nothing
    is learned yet, so that a merge patch of it removes what an earlier write said."""
    clocks = _Clocks(now, wall)
    capacity, memory, returns = state.capacity, state.bursts, state.governor.returns
    return {
        "replicaOf": subject.replica,
        "replicaTokensPerSecond": None if capacity.value is None else round(capacity.value, 1),
        "replicaSamples": capacity.samples if capacity.value is not None else None,
        "providersOf": subject.providers,
        "providersTokensPerSecond": (
            None if memory.providers is None else round(memory.providers, 1)
        ),
        "bursts": [
            {
                "start": clocks.stamp(b.start),
                "last": clocks.stamp(b.last),
                "excessTokensPerSecond": round(b.excess, 1),
            }
            for b in memory.bursts[-KEPT_BURSTS:]
        ],
        "demandReturnedAfterSeconds": [round(gap, 1) for gap in returns.gaps],
        "releasedAt": None if returns.released_at is None else clocks.stamp(returns.released_at),
        "writtenAt": clocks.stamp(now),
    }


def _positive(value: object, *, zero: bool = False) -> float | None:
    """``value`` as a float if it is a finite number above 0 (or at 0, with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    least_ok = value >= 0 if zero else value > 0
    return float(value) if math.isfinite(value) and least_ok else None


def _bursts(items: Iterable[object], clocks: _Clocks, problems: list[str]) -> list[Burst]:
    kept: list[Burst] = []
    for item in items:
        fields = item if isinstance(item, dict) else {}
        start, last = clocks.read(fields.get("start")), clocks.read(fields.get("last"))
        excess = _positive(fields.get("excessTokensPerSecond"))
        if start is None or last is None or excess is None or last < start:
            problems.append(
                f"a burst needs a start, a last time and a positive excess: {_shown(item)}"
            )
            continue
        kept.append(Burst(start, last, excess))
    return sorted(kept, key=lambda b: b.last)[-KEPT_BURSTS:]


def _capacity(doc: dict[str, Any], subject: Subject, problems: list[str]) -> CapacityEstimate:
    value = doc.get("replicaTokensPerSecond")
    if value is None:
        return CapacityEstimate()
    if doc.get("replicaOf") != subject.replica:
        problems.append(
            f"the capacity was learned of {_shown(doc.get('replicaOf'))}, "
            f"the replicas are now {subject.replica!r}"
        )
        return CapacityEstimate()
    measured = _positive(value)
    if measured is None:
        problems.append(f"replicaTokensPerSecond {_shown(value)} is not a positive number")
        return CapacityEstimate()
    samples = doc.get("replicaSamples")
    count = samples if isinstance(samples, int) and not isinstance(samples, bool) else 0
    # a measurement read back is never again replaced whole by the next saturated ticks
    return CapacityEstimate(measured, max(FIRST_SAMPLES, count))


def _memory(
    doc: dict[str, Any], subject: Subject, clocks: _Clocks, problems: list[str]
) -> BurstMemory:
    if doc.get("providersOf") != subject.providers:
        if doc.get("providersTokensPerSecond") is not None or doc.get("bursts"):
            problems.append(
                f"the providers' limit was learned of {_shown(doc.get('providersOf'))}, "
                f"the CR now spills to {subject.providers!r}"
            )
        return BurstMemory()
    value = doc.get("providersTokensPerSecond")
    providers = None if value is None else _positive(value)
    if value is not None and providers is None:
        problems.append(f"providersTokensPerSecond {_shown(value)} is not a positive number")
    bursts = doc.get("bursts")
    listed = bursts if isinstance(bursts, list) else []
    return BurstMemory(providers, _bursts(listed, clocks, problems))


def _returns(doc: dict[str, Any], clocks: _Clocks, problems: list[str]) -> Returns:
    returns = Returns()
    gaps = doc.get("demandReturnedAfterSeconds")
    for gap in (gaps if isinstance(gaps, list) else [])[-REMEMBERED:]:
        seconds = _positive(gap, zero=True)  # demand may come back at once
        if seconds is None:
            problems.append(
                f"demandReturnedAfterSeconds holds {_shown(gap)}: not a number of seconds"
            )
        else:
            returns.gaps.append(seconds)
    released = doc.get("releasedAt")
    if released is not None:
        returns.released_at = clocks.read(released)
        if returns.released_at is None:
            problems.append(f"releasedAt {_shown(released)} is not like 2026-12-01T09:30:00Z")
    return returns


def restored_state(
    doc: object, subject: Subject, *, now: float, wall: float
) -> tuple[CostState, tuple[str, ...]]:
    """The cost policy's state from ``status.autoscaling.learned`` (nothing learned if absent),
    and what of it could not be read back, in words."""
    if doc is None:
        return CostState(), ()
    if not isinstance(doc, dict):
        return CostState(), (f"status.autoscaling.learned is not an object: {_shown(doc)}",)
    problems: list[str] = []
    clocks = _Clocks(now, wall)
    state = CostState(
        capacity=_capacity(doc, subject, problems),
        bursts=_memory(doc, subject, clocks, problems),
        governor=CostGovernor(returns=_returns(doc, clocks, problems)),
    )
    return state, tuple(problems)
