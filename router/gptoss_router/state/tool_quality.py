"""How well each backend makes tool calls, and which are gated off tool requests for now.

Every tool call an answer makes is checked against the request's function schema
(``openai/tool_calls``); the verdicts are kept per backend key (a provider's name, or a pod's
URL) and model over the last ``window_s`` seconds. Once a key has at least ``min_samples``
verdicts there and fewer than ``min_validity`` of them are valid, it is *gated*: requests that
offer tools skip it for ``base_gate_s * n`` seconds, n being how many times it was gated, capped
at ``max_gate_s`` (the backoff of outlier ejection, ``outliers.py``). Its window starts afresh
when it is gated, so it comes back on its merit. Requests without tools never look here.
The clock is injected so the transitions are tested without waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Gating", "ToolCallQuality"]


@dataclass(frozen=True, slots=True)
class Gating:
    """A key just gated: for how long, and the rate that gated it."""

    key: str
    model: str
    seconds: float
    valid: int
    samples: int

    @property
    def reason(self) -> str:
        """One line on why."""
        return (
            f"{self.valid} of the last {self.samples} tool calls were valid "
            f"({self.valid / self.samples:.0%})"
        )


@dataclass(slots=True)
class _Record:
    verdicts: deque[tuple[float, bool]] = field(default_factory=deque)
    valid: int = 0
    gatings: int = 0
    gated_until: float = 0.0
    last_gated: float = 0.0


class ToolCallQuality:
    """Sliding-window validity of tool calls per (backend key, model), and gating."""

    def __init__(
        self,
        *,
        min_validity: float,
        min_samples: int,
        window_s: float,
        base_gate_s: float,
        max_gate_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._min_validity = min_validity
        self._min_samples = min_samples
        self._window_s = window_s
        self._base = base_gate_s
        self._max = max_gate_s
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}

    def record(self, key: str, model: str, valid: bool) -> Gating | None:
        """One tool call by ``key`` for ``model`` was checked; the gating it causes, if any."""
        record = self._records.setdefault((key, model), _Record())
        now = self._clock()
        if record.gated_until > now:
            return None  # a request that started before the gate: not held against it twice
        if record.gatings and now - record.last_gated > self._max + self._window_s:
            record.gatings = 0  # behaved for long enough: the backoff starts over
        record.verdicts.append((now, valid))
        record.valid += valid
        self._expire(record, now)
        samples = len(record.verdicts)
        if samples < self._min_samples or record.valid >= self._min_validity * samples:
            return None
        record.gatings += 1
        record.last_gated = now
        seconds = min(self._base * record.gatings, self._max)
        record.gated_until = now + seconds
        gating = Gating(key, model, seconds, record.valid, samples)
        record.verdicts.clear()
        record.valid = 0
        return gating

    def _expire(self, record: _Record, now: float) -> None:
        horizon = now - self._window_s
        verdicts = record.verdicts
        while verdicts and verdicts[0][0] < horizon:
            _, valid = verdicts.popleft()
            record.valid -= valid

    def is_gated(self, key: str, model: str) -> bool:
        """Whether ``key`` is kept off tool requests for ``model`` now."""
        record = self._records.get((key, model))
        return record is not None and record.gated_until > self._clock()

    def gated(self) -> list[tuple[str, str]]:
        """(key, model) pairs gated now."""
        now = self._clock()
        return [k for k, r in self._records.items() if r.gated_until > now]

    def rate(self, key: str, model: str) -> tuple[int, int]:
        """Valid calls and all calls in ``key``'s window for ``model`` now."""
        record = self._records.get((key, model))
        if record is None:
            return 0, 0
        self._expire(record, self._clock())
        return record.valid, len(record.verdicts)

    def forget(self, key: str) -> None:
        """``key`` no longer exists (a pod went away)."""
        for pair in [p for p in self._records if p[0] == key]:
            del self._records[pair]

    def backends(self) -> set[str]:
        """The backends it holds verdicts of."""
        return {key for key, _model in self._records}
