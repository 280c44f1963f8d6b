"""The multi-turn agentic trace: apps with shared system prompts, conversations starting as a
Poisson process, and deterministic token ids per segment."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

__all__ = ["Conversation", "Tokens", "Trace", "make_trace"]


@dataclass
class Conversation:
    cid: int
    app: int
    turns: int
    segments: list[tuple[str, int]]  # (segment id, tokens): system+tools, then each message
    sent: int = 0


@dataclass
class Trace:
    apps: list[int]  # tokens of each app's shared system prompt and tools
    starts: list[tuple[float, Conversation]]


def make_trace(
    rng: random.Random,
    *,
    apps: int,
    minutes: float,
    rate: float,
    sharing: bool,
    turns: tuple[int, int] = (5, 20),
) -> Trace:
    """Conversations starting as a Poisson process at ``rate`` per second."""
    app_tokens = [rng.randint(2000, 8000) for _ in range(apps)]
    starts: list[tuple[float, Conversation]] = []
    now, cid = 0.0, 0
    while now < minutes * 60:
        now += rng.expovariate(rate)
        app = rng.randrange(apps)
        system = f"app{app}" if sharing else f"solo{cid}"
        convo = Conversation(cid, app, rng.randint(*turns), [(system, app_tokens[app])])
        starts.append((now, convo))
        cid += 1
    return Trace(app_tokens, starts)


class Tokens:
    """Deterministic token ids per segment, made once."""

    def __init__(self) -> None:
        self._cache: dict[str, list[int]] = {}

    def of(self, segment: str, count: int) -> list[int]:
        found = self._cache.get(segment)
        if found is None:
            seed = int.from_bytes(hashlib.sha256(segment.encode()).digest()[:8], "big")
            gen = random.Random(seed)  # noqa: S311 - synthetic token ids
            found = self._cache[segment] = [gen.randrange(200_000) for _ in range(count)]
        return found
