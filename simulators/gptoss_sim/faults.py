"""Faults to inject, per request or by schedule: what they are and when they apply (pure).

A fault is written as comma-separated terms, the same in the ``x-sim-fault`` request header,
in ``--fault`` on the command line and in ``PUT /_sim/faults``:

    latency=0.5           wait 0.5 s before answering
    status=503            answer with this status, in the simulator's own error envelope
    retry_after=2         with ``status``: the ``retry-after`` header to send
    reset                 reset the connection before any response header (TCP RST)
    hang                  accept the request and never answer
    disconnect_after=3    close the connection after 3 body chunks (mid-stream)
    trickle=0.05          send the body in small pieces, 0.05 s apart
    error_after=0         the engine fails the request after 0 events of its stream: the stream
                          ends, HTTP 200, with the error as an event and ``data: [DONE]``, as
                          vLLM's chat and completions generators end when the engine fails
                          (``serving_chat.py``: ``create_streaming_error_response``); answers
                          that are not event streams are left alone

A scheduled rule adds when it applies, by request count and by seconds since start:

    every=3               every 3rd request (default 1: each)
    after=10 / until=20   only between 10 s and 20 s after the simulator started
    times=2               at most twice
    path=/metrics         only to requests whose path starts with /metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gptoss_sim.errors import SimError

FAULT_HEADER = "x-sim-fault"


@dataclass(frozen=True)
class Fault:
    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    reset: bool = False
    hang: bool = False
    disconnect_after: int | None = None
    trickle: float = 0.0
    error_after: int | None = None


@dataclass(frozen=True)
class FaultRule:
    fault: Fault
    every: int = 1
    after: float = 0.0
    until: float | None = None
    times: int | None = None
    path: str = ""


_FLAGS = {"reset", "hang"}
_FLOATS = {"latency", "retry_after", "trickle", "after", "until"}
_INTS = {"status", "disconnect_after", "error_after", "every", "times"}
_RULE_KEYS = {"every", "after", "until", "times", "path"}


def parse_rule(text: str) -> FaultRule:
    """Read a rule (fault terms plus schedule terms); raises SimError(400) on nonsense."""
    fault: dict[str, object] = {}
    rule: dict[str, object] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = term.partition("=")
        key = key.strip()
        target = rule if key in _RULE_KEYS else fault
        try:
            if key in _FLAGS and not value:
                target[key] = True
            elif key in _FLOATS:
                target[key] = float(value)
            elif key in _INTS:
                target[key] = int(value)
            elif key == "path" and value.startswith("/"):
                target[key] = value
            else:
                raise ValueError(key)
        except ValueError:
            raise SimError(400, f"bad fault term {term!r}", param=FAULT_HEADER) from None
    return FaultRule(fault=Fault(**fault), **rule)  # type: ignore[arg-type]


def parse_fault(text: str) -> Fault:
    return parse_rule(text).fault


@dataclass(frozen=True)
class FaultSchedule:
    """Rules in order; the first that matches a request applies."""

    rules: tuple[FaultRule, ...] = ()
    fired: tuple[int, ...] = field(default=())

    def pick(
        self, index: int, elapsed: float, path: str = "/"
    ) -> tuple[Fault | None, FaultSchedule]:
        """The fault for the ``index``-th request (1-based) at ``elapsed`` seconds."""
        fired = list(self.fired or (0,) * len(self.rules))
        for i, rule in enumerate(self.rules):
            if elapsed < rule.after or (rule.until is not None and elapsed >= rule.until):
                continue
            if not path.startswith(rule.path):
                continue
            if rule.times is not None and fired[i] >= rule.times:
                continue
            if index % rule.every != 0:
                continue
            fired[i] += 1
            return rule.fault, replace(self, fired=tuple(fired))
        return None, self
