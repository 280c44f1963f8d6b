"""Rate limits and overload, per provider: who is refused, with what status, and the headers.

Each provider signals overload its own way (docs/sources.md, Providers and Failover):

- Groq: 429 ``rate_limit_exceeded`` with ``retry-after`` when a limit is spent; 498
  ``capacity_exceeded`` on the flex tier (``service_tier: "flex"``) when the platform is full;
  503 otherwise.
- Fireworks: 429 when a limit is spent; 503 "Service Overloaded" when the platform is full.
- Together: 429 with type ``dynamic_request_limited`` / ``dynamic_token_limited`` above your
  dynamic rate; 503 at or below it when the platform is short of capacity.
- OpenAI-compatible: 429 ``rate_limit_exceeded``; 503 when overloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptoss_sim.errors import SimError
from gptoss_sim.providers.profiles import Kind, Limits


@dataclass(frozen=True)
class Ledger:
    """Admitted requests as ``(time, tokens)``, oldest first."""

    entries: tuple[tuple[float, int], ...] = ()

    def used(self, now: float, window: float) -> tuple[int, int, float]:
        """Requests and tokens in the last ``window`` seconds, and when the oldest leaves it."""
        inside = [(t, n) for t, n in self.entries if t > now - window]
        reset = (inside[0][0] + window - now) if inside else 0.0
        return len(inside), sum(n for _, n in inside), reset

    def add(self, now: float, tokens: int, horizon: float) -> Ledger:
        kept = tuple(e for e in self.entries if e[0] > now - horizon)
        return Ledger((*kept, (now, tokens)))


@dataclass(frozen=True)
class Usage:
    requests: int
    tokens: int
    request_reset: float
    token_reset: float


def usage(ledger: Ledger, now: float, limits: Limits) -> Usage:
    requests, _, request_reset = ledger.used(now, limits.request_window_s)
    _, tokens, token_reset = ledger.used(now, limits.token_window_s)
    return Usage(requests, tokens, request_reset, token_reset)


def go_duration(seconds: float) -> str:
    """Groq's reset format, e.g. ``2m59.56s`` or ``7.66s`` (console.groq.com/docs/rate-limits)."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}m{rest:.2f}s" if minutes else f"{rest:.2f}s"


def headers(kind: Kind, limits: Limits, used: Usage) -> dict[str, str]:
    """The rate-limit headers each provider sends (docs/sources.md, Providers)."""
    req_left = max(0, (limits.requests or 0) - used.requests)
    tok_left = max(0, (limits.tokens or 0) - used.tokens)
    if kind in ("groq", "openai"):
        reset = go_duration if kind == "groq" else (lambda s: f"{s:.3f}s")
        out = {}
        if limits.requests is not None:
            out["x-ratelimit-limit-requests"] = str(limits.requests)
            out["x-ratelimit-remaining-requests"] = str(req_left)
            out["x-ratelimit-reset-requests"] = reset(used.request_reset)
        if limits.tokens is not None:
            out["x-ratelimit-limit-tokens"] = str(limits.tokens)
            out["x-ratelimit-remaining-tokens"] = str(tok_left)
            out["x-ratelimit-reset-tokens"] = reset(used.token_reset)
        return out
    if kind == "fireworks":
        # The effective adaptive limits, prompt and generated.
        return {
            "x-ratelimit-limit-tokens-prompt": str(limits.tokens or 0),
            "x-ratelimit-limit-tokens-generated": str((limits.tokens or 0) // 100),
        }
    return {
        "x-ratelimit-limit": str(limits.requests or 0),
        "x-ratelimit-remaining": str(req_left),
        "x-ratelimit-reset": str(math.ceil(used.request_reset)),
        "x-tokenlimit-limit": str(limits.tokens or 0),
        "x-tokenlimit-remaining": str(tok_left),
        "x-ratelimit-limit-dynamic": str(limits.requests or 0),
    }


def admit(
    kind: Kind,
    limits: Limits,
    used: Usage,
    tokens: int,
    in_flight: int,
    *,
    flex: bool = False,
) -> SimError | None:
    """None to serve the request, else the refusal this provider answers with."""
    over_requests = limits.requests is not None and used.requests + 1 > limits.requests
    over_tokens = limits.tokens is not None and used.tokens + tokens > limits.tokens
    full = limits.capacity is not None and in_flight >= limits.capacity
    wait = used.token_reset if over_tokens else used.request_reset
    if kind == "groq":
        if over_requests or over_tokens:
            which = "tokens" if over_tokens else "requests"
            return SimError(
                429,
                f"Rate limit reached for {which}. Please try again in {go_duration(wait)}.",
                type_=which,
                code="rate_limit_exceeded",
                headers={"retry-after": str(max(1, math.ceil(wait)))},
            )
        if full and flex:
            return SimError(
                498,
                "Flex tier capacity exceeded.",
                type_="capacity_exceeded",
                code="capacity_exceeded",
            )
        if full:
            return SimError(503, "Service Unavailable", type_="internal_server_error")
        return None
    if kind == "together":
        if over_requests or over_tokens:
            limited = "dynamic_token_limited" if over_tokens else "dynamic_request_limited"
            return SimError(
                429,
                f"You are above your dynamic rate limit ({limited}).",
                type_=limited,
                code=limited,
            )
        if full:
            return SimError(
                503, "The server is overloaded, please try again later.", type_="server_error"
            )
        return None
    if over_requests or over_tokens:
        return SimError(
            429, "Rate limit exceeded.", type_="rate_limit_error", code="rate_limit_exceeded"
        )
    if full:
        message = "Service Overloaded" if kind == "fireworks" else "The server is overloaded."
        return SimError(503, message, type_="server_error")
    return None
