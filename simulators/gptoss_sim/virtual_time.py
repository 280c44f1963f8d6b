"""The engine model run in virtual time over a list of arrivals, for tests and benchmarks.

:func:`simulate` feeds requests to the scheduler (``gptoss_sim.scheduler.step``) as their
arrival times come, steps until every request has finished, and reports each request's time to
first token, end-to-end latency, time queued and prompt tokens found in the prefix cache. No
clock and no event loop: a run of thousands of requests takes as long as its steps compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.engine_state import EngineState, Seq, add_request
from gptoss_sim.prefix_cache import BlockHash
from gptoss_sim.scheduler import step


@dataclass(frozen=True)
class Outcome:
    """How one request fared in :func:`simulate`."""

    rid: int
    ttft: float
    e2e: float
    queued: float
    cached_tokens: int = 0


def simulate(
    params: CapacityParams,
    arrivals: list[tuple[float, int, int]],
    prompts: Sequence[tuple[BlockHash, ...]] | None = None,
) -> tuple[list[Outcome], int]:
    """Run the engine in virtual time over ``(arrival time, prompt, output)`` requests.

    ``prompts`` optionally gives each request's block hashes, for prefix caching.
    Returns each request's outcome and the longest waiting queue left after a step.
    """
    pending = sorted(enumerate(arrivals), key=lambda item: item[1][0])
    state = EngineState(now=pending[0][1][0] if pending else 0.0)
    outcomes: list[Outcome] = []
    max_waiting = 0
    while pending or state.running or state.waiting:
        while pending and pending[0][1][0] <= state.now:
            rid, (at, prompt, output) = pending.pop(0)
            hashes = prompts[rid] if prompts is not None else ()
            state = add_request(state, Seq(rid, prompt, output, arrived_at=at, hashes=hashes))
        result = step(state, params)
        if result is None:
            state = replace(state, now=pending[0][1][0])
            continue
        state = result.state
        max_waiting = max(max_waiting, len(state.waiting))
        for event in result.events:
            seq = event.seq
            if event.finished and seq.first_token_at is not None and seq.scheduled_at is not None:
                outcomes.append(
                    Outcome(
                        rid=seq.rid,
                        ttft=seq.first_token_at - seq.arrived_at,
                        e2e=state.now - seq.arrived_at,
                        queued=seq.scheduled_at - seq.arrived_at,
                        cached_tokens=seq.cached_tokens or 0,
                    )
                )
    return sorted(outcomes, key=lambda o: o.rid), max_waiting
