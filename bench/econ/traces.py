"""Demand traces: one request rate per minute over a day, and the shape of a request.

``generate(kind, seed)`` draws a trace from a diurnal curve (quiet nights, a working-day plateau
with a lunch dip), bursts (batch jobs or launches: a jump of several replicas' worth of demand
for ten to forty minutes) and spikes (one to three minutes), with minute-to-minute noise. The
same kind and seed always give the same trace. Three are shipped in ``traces/``:

* ``diurnal``: a team's chat assistant, 0.3 to 6 requests/s, four bursts a day.
* ``bursty-low``: a retrieval app that rarely fills one replica, with many short bursts.
* ``busy``: agents and pipelines around the clock, 7 to 13 requests/s.
* ``bursty-tall``: a check against fitting the policy to ``bursty-low``'s bursts: a quieter
  base, and three tall bursts of twenty minutes to an hour (batch jobs) past the providers'
  rate limits, with shorter prompts.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["KINDS", "TRACES_DIR", "Trace", "generate", "load", "save"]

TRACES_DIR = Path(__file__).resolve().parent / "traces"
MINUTES = 24 * 60


@dataclass(frozen=True)
class Trace:
    name: str
    seed: int
    input_tokens: int  # mean prompt length of a request
    output_tokens: int  # mean reply length (reasoning included)
    requests_per_s: tuple[float, ...]  # one value per minute

    @property
    def step_s(self) -> float:
        return 60.0

    def rate_at(self, t: float) -> float:
        return self.requests_per_s[min(int(t // 60), len(self.requests_per_s) - 1)]


@dataclass(frozen=True)
class _Kind:
    night: float  # requests/s at 03:00
    day: float  # requests/s on the working-day plateau
    bursts: int
    burst_height: tuple[float, float]  # requests/s added, low and high
    burst_minutes: tuple[int, int]
    spikes: int
    spike_height: tuple[float, float]
    input_tokens: int
    output_tokens: int


KINDS = {
    "diurnal": _Kind(0.3, 6.0, 4, (3.0, 8.0), (10, 40), 12, (2.0, 6.0), 1500, 600),
    "bursty-low": _Kind(0.1, 1.0, 6, (2.0, 5.0), (5, 20), 30, (1.0, 4.0), 3000, 400),
    "busy": _Kind(7.0, 13.0, 2, (3.0, 6.0), (20, 60), 6, (2.0, 4.0), 1000, 500),
    "bursty-tall": _Kind(0.1, 0.5, 3, (6.0, 10.0), (20, 60), 8, (1.0, 3.0), 2000, 500),
}


def _diurnal(minute: int, night: float, day: float) -> float:
    """Night at 03:00, up from 07:00, plateau 09:00-17:30 with a dip at 12:30, down by 22:00."""
    hour = minute / 60.0
    rise = 1.0 / (1.0 + math.exp(-(hour - 8.0) * 1.6))
    fall = 1.0 / (1.0 + math.exp((hour - 19.0) * 1.1))
    lunch = 1.0 - 0.25 * math.exp(-(((hour - 12.5) / 0.6) ** 2))
    return night + (day - night) * rise * fall * lunch


def generate(kind: str, seed: int) -> Trace:
    shape = KINDS[kind]
    rng = random.Random(f"{kind}/{seed}")  # noqa: S311 - reproducible traces, not secrets
    rates = [_diurnal(m, shape.night, shape.day) for m in range(MINUTES)]
    for count, height, span in (
        (shape.bursts, shape.burst_height, shape.burst_minutes),
        (shape.spikes, shape.spike_height, (1, 3)),
    ):
        for _ in range(count):
            start = rng.randrange(7 * 60, 22 * 60)
            lift = rng.uniform(*height)
            for m in range(start, min(MINUTES, start + rng.randint(*span))):
                rates[m] += lift
    noisy = [max(0.0, r * rng.gauss(1.0, 0.08)) for r in rates]
    return Trace(
        name=kind,
        seed=seed,
        input_tokens=shape.input_tokens,
        output_tokens=shape.output_tokens,
        requests_per_s=tuple(round(r, 3) for r in noisy),
    )


def save(trace: Trace, directory: Path = TRACES_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{trace.name}.json"
    document = asdict(trace)
    document["requests_per_s"] = list(trace.requests_per_s)
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    return path


def load(path: Path) -> Trace:
    document = json.loads(path.read_text())
    document["requests_per_s"] = tuple(document["requests_per_s"])
    return Trace(**document)
