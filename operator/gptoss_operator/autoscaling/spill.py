"""The router's spilled demand for one GptOssDeployment, summed over every router replica (pure:
no clock, no I/O).

Each router replica counts only what it spilled itself, so the demand is the sum over all of
them: gauges (requests spilled or held right now) add up as read. Counters do not: each is a
process's own count since it started, so a raw sum goes back when a replica restarts and jumps
when one appears, and a counter difference taken across two replicas reads as a burst.
``CounterSum`` keeps one total that only moves by what each replica counted since it was last
read:

* a replica read twice adds the growth of its counter;
* a counter that went down belongs to a restarted process: its new value is counted from zero;
* a replica seen for the first time adds nothing (what it counted before is history), and one
  that is gone takes nothing away;
* a replica that did not answer adds nothing, and counts again from its next answer as if seen
  for the first time: what it counted while silent is left out, since added in one reading it
  would read as a burst of that one tick (a router silent for a minute would bring a minute's
  spill into one second).

Samples belong to a GptOssDeployment by the router's ``deployment="<namespace>/<name>"`` label;
a sample without it (or with it empty: a router without cluster discovery) belongs to every
GptOssDeployment of its ``model``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "CounterSum",
    "RouterSpill",
    "RouterTotals",
    "Sample",
    "finite_count",
    "parse_router",
    "router_samples",
    "spill_for",
]

INFLIGHT = "gptoss_router_spilled_inflight"
HELD = "gptoss_router_held_requests"
SPILLED = "gptoss_router_spilled_requests_total"
REQUESTS = "gptoss_router_requests_total"
TOKENS = "gptoss_router_tokens_total"
_READ = frozenset({INFLIGHT, HELD, SPILLED, REQUESTS, TOKENS})


@dataclass(frozen=True)
class RouterSpill:
    inflight: int  # gptoss_router_spilled_inflight + gptoss_router_held_requests
    total: int  # gptoss_router_spilled_requests_total, summed over reasons
    # Counters of what providers served, over all models (the router's token counter has no
    # model label): requests, input and output tokens.
    hosted_requests: float = 0.0
    hosted_input_tokens: float = 0.0
    hosted_output_tokens: float = 0.0
    # Requests for this model no backend served (gptoss_router_requests_total with backend
    # "none", outcome no_backend or upstream_error): the providers were spent, failing or not
    # allowed, and no local pod could take them.
    unserved: float = 0.0


@dataclass(frozen=True)
class Sample:
    name: str  # as the parser names it: counters end in _total
    labels: Mapping[str, str]
    value: float


def finite_count(name: str, value: float) -> float:
    """``value`` if it can be a count or a gauge of requests (finite, not negative); otherwise
    ``ValueError``, so that the source reads as not answering rather than as a figure."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} is {value}, not a count")
    return value


def router_samples(text: str) -> tuple[Sample, ...]:
    """The samples of a router's ``/metrics`` that the autoscaler reads (parsed once per read,
    then summed for each GptOssDeployment); ``ValueError`` if one of them is not a finite
    count (``finite_count``)."""
    return tuple(
        Sample(sample.name, sample.labels, finite_count(sample.name, sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in _READ
    )


def _belongs(labels: Mapping[str, str], models: AbstractSet[str], deployment: str | None) -> bool:
    owner = labels.get("deployment")
    if owner and deployment is not None:
        return owner == deployment
    return labels.get("model") in models


def _hosted(labels: Mapping[str, str]) -> bool:
    return labels.get("backend") not in ("local", "none")


_UNSERVED = frozenset({"no_backend", "upstream_error"})


def _sum(samples: Iterable[Sample], name: str, where: Callable[[Mapping[str, str]], bool]) -> float:
    return sum(s.value for s in samples if s.name == name and where(s.labels))


def spill_for(
    samples: tuple[Sample, ...], model: str | AbstractSet[str], deployment: str | None
) -> RouterSpill:
    """One router's spill for the GptOssDeployment ``deployment`` (``namespace/name``) serving
    ``model`` (or each of several names: a fine-tune's and its LoRA adapters'). Requests the
    router holds for want of a local pod (the model may not spill) are demand the replicas did
    not absorb, like spilled ones: they count in ``inflight``."""
    models = frozenset({model}) if isinstance(model, str) else frozenset(model)

    def mine(labels: Mapping[str, str]) -> bool:
        return _belongs(labels, models, deployment)

    def direction(wanted: str) -> Callable[[Mapping[str, str]], bool]:
        return lambda labels: _hosted(labels) and labels.get("direction") == wanted

    return RouterSpill(
        inflight=int(_sum(samples, INFLIGHT, mine) + _sum(samples, HELD, mine)),
        total=int(_sum(samples, SPILLED, mine)),
        hosted_requests=_sum(samples, REQUESTS, _hosted),
        hosted_input_tokens=_sum(samples, TOKENS, direction("input")),
        hosted_output_tokens=_sum(samples, TOKENS, direction("output")),
        unserved=_sum(
            samples,
            REQUESTS,
            lambda labels: (
                labels.get("backend") == "none"
                and labels.get("outcome") in _UNSERVED
                and labels.get("model") in models
            ),
        ),
    )


def parse_router(text: str, model: str, deployment: str | None = None) -> RouterSpill:
    """``spill_for`` of one router's Prometheus text."""
    return spill_for(router_samples(text), model, deployment)


@dataclass
class CounterSum:
    """One total of a counter that several sources (router replicas) count apart; it never goes
    down and never jumps when sources come, go or restart (see the module docstring)."""

    total: float = 0.0
    _last: dict[str, float] = field(default_factory=dict)

    def observe(self, readings: Mapping[str, float | None]) -> float:
        """Add what each source counted since its last reading; ``readings`` names every source
        there is now (``None``: it did not answer). Returns the new total."""
        last: dict[str, float] = {}
        for source, value in readings.items():
            if value is None:
                continue
            before = self._last.get(source)
            if before is not None:
                self.total += value if value < before else value - before
            last[source] = value
        self._last = last
        return self.total


@dataclass
class RouterTotals:
    """One GptOssDeployment's spill over every router replica, counters made monotonic."""

    spilled: CounterSum = field(default_factory=CounterSum)
    hosted_requests: CounterSum = field(default_factory=CounterSum)
    hosted_input_tokens: CounterSum = field(default_factory=CounterSum)
    hosted_output_tokens: CounterSum = field(default_factory=CounterSum)
    unserved: CounterSum = field(default_factory=CounterSum)

    def observe(self, readings: Mapping[str, RouterSpill | None]) -> RouterSpill:
        """The spill of all routers now: gauges summed over those that answered, counters as
        ``CounterSum`` totals (so their growth between two calls is what was counted)."""

        def of(read: Callable[[RouterSpill], float]) -> dict[str, float | None]:
            return {k: None if v is None else read(v) for k, v in readings.items()}

        return RouterSpill(
            inflight=sum(v.inflight for v in readings.values() if v is not None),
            total=int(self.spilled.observe(of(lambda s: s.total))),
            hosted_requests=self.hosted_requests.observe(of(lambda s: s.hosted_requests)),
            hosted_input_tokens=self.hosted_input_tokens.observe(
                of(lambda s: s.hosted_input_tokens)
            ),
            hosted_output_tokens=self.hosted_output_tokens.observe(
                of(lambda s: s.hosted_output_tokens)
            ),
            unserved=self.unserved.observe(of(lambda s: s.unserved)),
        )
