"""Read providers' rate-limit headers and remember who is spent until when.

- ``Retry-After`` (seconds or an HTTP date) on 429/503: spent for that long.
- Groq: ``x-ratelimit-remaining-{requests,tokens}`` with ``x-ratelimit-reset-*`` as durations
  such as ``2m59.56s`` or ``7.66s``.
- Together: ``x-ratelimit-remaining`` with ``x-ratelimit-reset`` in seconds.

The providers' docs for these headers are listed in docs/sources.md, Providers.

A provider's limits are per model (Groq, Together and OpenAI publish them per model; Together's
change per model with load), so what a 429 says benches that provider for that model only: the
book's keys are ``limit_key(provider, model id)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

__all__ = [
    "MAX_SPENT_S",
    "RateLimitBook",
    "limit_key",
    "parse_duration",
    "provider_of",
    "retry_after_seconds",
    "spent_for",
]

MAX_SPENT_S = 3600.0  # the longest a provider's own word benches it on one replica


def limit_key(provider: str, model_id: str) -> str:
    """The key of ``provider``'s limits for the model it calls ``model_id``."""
    return f"{provider}|{model_id}"


def provider_of(key: str) -> str:
    """The provider a ``limit_key`` is of."""
    return key.partition("|")[0]


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_PAIRS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
)


def parse_duration(text: str) -> float | None:
    """Seconds in ``7.66s``, ``2m59.56s``, ``500ms`` or a bare number; None if unreadable
    (``inf`` and ``nan`` included: a provider cannot bench itself forever)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def retry_after_seconds(headers: Mapping[str, str], *, now: float) -> float | None:
    """The ``Retry-After`` delay in seconds (``now`` is wall-clock time for HTTP dates)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def spent_for(status: int, headers: Mapping[str, str], *, now: float) -> float | None:
    """How long a provider says it is spent, from one response; None if it is not."""
    if status in (429, 503):
        after = retry_after_seconds(headers, now=now)
        if after is not None:
            return after
    longest: float | None = None
    for remaining, reset in _PAIRS:
        left = headers.get(remaining)
        if left is None or left.strip() not in ("0", "0.0"):
            continue
        wait = parse_duration(headers.get(reset, "")) or 1.0
        longest = wait if longest is None else max(longest, wait)
    return longest


class RateLimitBook:
    """Which providers are spent, until when (monotonic clock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def note(self, key: str, seconds: float) -> None:
        """``key`` is spent for ``seconds`` from now (at most ``MAX_SPENT_S``: a provider that
        says longer is asked again after that)."""
        seconds = min(seconds, MAX_SPENT_S) if math.isfinite(seconds) else MAX_SPENT_S
        self._until[key] = max(self._until.get(key, 0.0), self._clock() + seconds)

    def note_until(self, key: str, until: float) -> None:
        """``key`` is spent until ``until`` (monotonic clock), as another replica learnt."""
        self._until[key] = max(self._until.get(key, 0.0), until)

    def spent_until(self) -> dict[str, float]:
        """Every key spent now, and until when."""
        now = self._clock()
        return {key: until for key, until in self._until.items() if until > now}

    def is_spent(self, key: str) -> bool:
        """Whether ``key`` said it is out of quota and the reset has not come yet."""
        return self._until.get(key, 0.0) > self._clock()

    def back_in(self, key: str) -> float:
        """Seconds until ``key``'s reset (0 when it is not spent)."""
        return max(0.0, self._until.get(key, 0.0) - self._clock())
