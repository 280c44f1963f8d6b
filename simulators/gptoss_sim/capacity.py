"""The capacity model of one vLLM engine, as pure functions over an immutable state.

vLLM runs the model in steps. Each step serves every running sequence: one decode token for
those already past their prompt, a chunk of prompt ("chunked prefill") for those still reading
it, all within a budget of ``max_num_batched_tokens`` tokens. At most ``max_num_seqs`` sequences
run at once; the rest wait in a FIFO queue. A sequence is admitted only when the KV-cache blocks
for its whole prompt are free, and takes one more block every ``block_size`` generated tokens;
when the pool runs dry the newest running sequence is preempted (its blocks freed, its work
recomputed later), as vLLM's scheduler does. A step lasts longer the more sequences it serves
and the more prompt tokens it prefills, so each request's token rate falls as the batch grows
while the engine's total rate rises.

The defaults describe gpt-oss-120b on one H100 80GB at tensor parallel size 1:

- ``kv_cache_tokens`` 49,800: vLLM left 1.71 GiB for KV with ``--gpu-memory-utilization 0.95
  --max-num-batched-tokens 1024`` (operator-anchors.md §0 item 7, vLLM #27508), and a token of
  the 18 full-attention layers takes 36,864 B (§3.3, derived): 1.71 GiB / 36 KiB ≈ 49,800.
- ``max_num_batched_tokens`` 1024: the recipe's workaround for the H100 TP1 out-of-memory
  (operator-anchors.md §3.1, "Known limitations").
- ``max_num_seqs`` 1024: "defaults to about 1024 on large GPUs" (§3.1, recipe notes).
- ``max_model_len`` 32,768: vLLM refuses to start when one full-length sequence does not fit
  the KV pool (the #27508 situation, §0 item 7), so the largest power of two below 49,800.
- step times: 5.5 ms + 0.8 ms per running sequence, i.e. about 180 tokens/s for a lone request
  and about 1,220 tokens/s in total at 256 sequences, near the 1,256 tokens/s per GPU Dynamo
  measured for gpt-oss-120b at concurrency 256 on H200 (operator-anchors.md §3.1, Dynamo
  recipe). The single-request figure is an assumption, not a measurement.
- prefill 50 µs per prompt token (20,000 prompt tokens/s): an assumption sized so that a
  1,024-token chunk costs about one decode step at moderate batch.
- ``startup_s`` 120: loading 64 to 66 GiB of weights (§3.2, vLLM #23278, #33155) plus compiling
  and CUDA-graph capture; an estimate, configurable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CapacityParams:
    """The engine's limits and speeds (see the module docstring for where they come from)."""

    max_num_seqs: int = 1024
    max_num_batched_tokens: int = 1024
    kv_cache_tokens: int = 49_800
    block_size: int = 16
    max_model_len: int = 32_768
    step_base_s: float = 0.0055
    step_per_seq_s: float = 0.0008
    prefill_token_s: float = 0.00005
    startup_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1 or self.max_num_batched_tokens < 1 or self.block_size < 1:
            raise ValueError("max_num_seqs, max_num_batched_tokens and block_size must be >= 1")
        if self.max_model_len > self.kv_cache_tokens:
            # vLLM refuses to start in this case (operator-anchors.md §0 item 7, vLLM #27508).
            raise ValueError(
                f"max_model_len {self.max_model_len} does not fit the KV cache of "
                f"{self.kv_cache_tokens} tokens"
            )

    @property
    def total_blocks(self) -> int:
        return self.kv_cache_tokens // self.block_size


@dataclass(frozen=True)
class Seq:
    """One request inside the engine."""

    rid: int
    prompt_tokens: int
    output_tokens: int
    arrived_at: float
    computed: int = 0
    generated: int = 0
    blocks: int = 0
    scheduled_at: float | None = None
    first_token_at: float | None = None

    @property
    def target(self) -> int:
        """Tokens whose KV must exist before the next token can be sampled."""
        return self.prompt_tokens + self.generated


@dataclass(frozen=True)
class EngineState:
    now: float = 0.0
    waiting: tuple[Seq, ...] = ()
    running: tuple[Seq, ...] = ()
    used_blocks: int = 0
    preemptions: int = 0


@dataclass(frozen=True)
class TokenEvent:
    """``seq`` produced a token in a step that ended at ``seq``'s clock time."""

    seq: Seq
    finished: bool


@dataclass(frozen=True)
class Step:
    state: EngineState
    duration: float
    events: tuple[TokenEvent, ...]


def blocks_for(tokens: int, block_size: int) -> int:
    return math.ceil(tokens / block_size)


def kv_usage(state: EngineState, params: CapacityParams) -> float:
    """``vllm:kv_cache_usage_perc``: the used fraction of KV blocks, 0..1."""
    return state.used_blocks / params.total_blocks


def add_request(state: EngineState, seq: Seq) -> EngineState:
    return replace(state, waiting=(*state.waiting, seq))


def abort(state: EngineState, rid: int) -> EngineState:
    """Drop request ``rid`` wherever it is and free its blocks."""
    freed = sum(s.blocks for s in state.running if s.rid == rid)
    return replace(
        state,
        waiting=tuple(s for s in state.waiting if s.rid != rid),
        running=tuple(s for s in state.running if s.rid != rid),
        used_blocks=state.used_blocks - freed,
    )


def _requeue(seq: Seq) -> Seq:
    # Preemption by recomputation: the KV is dropped and the prompt plus what was generated
    # so far is prefilled again when the sequence is readmitted.
    return replace(seq, computed=0, blocks=0)


def step(state: EngineState, params: CapacityParams) -> Step | None:
    """Schedule and run one engine step; ``None`` when there is nothing to do."""
    if not state.running and not state.waiting:
        return None
    budget = params.max_num_batched_tokens
    free = params.total_blocks - state.used_blocks
    running = list(state.running)
    waiting = list(state.waiting)
    preemptions = state.preemptions
    scheduled: dict[int, int] = {}

    i = 0
    while i < len(running) and budget > 0:
        seq = running[i]
        need = min(seq.target - seq.computed, budget)
        extra = max(0, blocks_for(seq.computed + need, params.block_size) - seq.blocks)
        while extra > free and running[-1] is not seq:
            victim = running.pop()
            free += victim.blocks
            waiting.insert(0, _requeue(victim))
            preemptions += 1
        if extra > free:
            running.pop(i)
            free += seq.blocks
            waiting.insert(0, _requeue(seq))
            preemptions += 1
            continue
        free -= extra
        running[i] = replace(seq, blocks=seq.blocks + extra)
        scheduled[seq.rid] = need
        budget -= need
        i += 1

    while waiting and budget > 0 and len(running) < params.max_num_seqs:
        seq = waiting[0]
        reserve = blocks_for(seq.target, params.block_size)
        if reserve > free:
            break
        waiting.pop(0)
        free -= reserve
        need = min(seq.target - seq.computed, budget)
        scheduled_at = seq.scheduled_at if seq.scheduled_at is not None else state.now
        running.append(replace(seq, blocks=reserve, scheduled_at=scheduled_at))
        scheduled[seq.rid] = need
        budget -= need

    tokens = sum(scheduled.values())
    duration = (
        params.step_base_s
        + params.step_per_seq_s * len(scheduled)
        + params.prefill_token_s * (tokens - len(scheduled))
    )
    end = state.now + duration
    events: list[TokenEvent] = []
    survivors: list[Seq] = []
    for seq in running:
        need = scheduled.get(seq.rid, 0)
        seq = replace(seq, computed=seq.computed + need)
        if need and seq.computed == seq.target:
            first = seq.first_token_at if seq.first_token_at is not None else end
            seq = replace(seq, generated=seq.generated + 1, first_token_at=first)
            finished = seq.generated >= seq.output_tokens
            events.append(TokenEvent(seq=seq, finished=finished))
            if finished:
                free += seq.blocks
                continue
        survivors.append(seq)
    new_state = EngineState(
        now=end,
        waiting=tuple(waiting),
        running=tuple(survivors),
        used_blocks=params.total_blocks - free,
        preemptions=preemptions,
    )
    return Step(state=new_state, duration=duration, events=tuple(events))


@dataclass(frozen=True)
class Outcome:
    """How one request fared in :func:`simulate`."""

    rid: int
    ttft: float
    e2e: float
    queued: float


def simulate(
    params: CapacityParams, arrivals: list[tuple[float, int, int]]
) -> tuple[list[Outcome], int]:
    """Run the engine in virtual time over ``(arrival time, prompt, output)`` requests.

    Returns each request's outcome and the longest waiting queue left after a step.
    """
    pending = sorted(enumerate(arrivals), key=lambda item: item[1][0])
    state = EngineState(now=pending[0][1][0] if pending else 0.0)
    outcomes: list[Outcome] = []
    max_waiting = 0
    while pending or state.running or state.waiting:
        while pending and pending[0][1][0] <= state.now:
            rid, (at, prompt, output) = pending.pop(0)
            state = add_request(state, Seq(rid, prompt, output, arrived_at=at))
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
                    )
                )
    return sorted(outcomes, key=lambda o: o.rid), max_waiting
