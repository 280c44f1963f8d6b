"""The capacity model of one vLLM engine, as pure functions over an immutable state.

vLLM runs the model in steps. Each step serves every running sequence: one decode token for
those already past their prompt, a chunk of prompt ("chunked prefill") for those still reading
it, all within a budget of ``max_num_batched_tokens`` tokens. At most ``max_num_seqs`` sequences
run at once; the rest wait in a FIFO queue. A sequence holds KV-cache blocks of ``block_size``
tokens for what it has computed so far. A step lasts longer the more sequences it serves and the
more prompt tokens it prefills, so each request's token rate falls as the batch grows while the
engine's total rate rises.

Scheduling follows vLLM 0.17.0 ``vllm/v1/core/sched/scheduler.py`` (``Scheduler.schedule``):
running requests first, in order, each taking KV blocks for just the tokens scheduled this step
(``allocate_slots``); when the pool runs dry the LAST running request is preempted (its blocks
freed, its progress recomputed later) until the request fits or preempts itself; waiting
requests are admitted, first come first served, only in a step that preempted nothing, while
fewer than ``max_num_seqs`` run and the token budget lasts. With prefix caching on (vLLM's
default) a waiting request first looks its prompt's block hashes up in the cache and skips the
prefill of what it finds (``gptoss_sim.prefix_cache``); the lookup is counted in
``prefix_queries``/``prefix_hits`` (tokens) on every attempt to admit a request that has not
been preempted, as ``KVCacheManager.get_computed_blocks`` records it.

gpt-oss alternates full-attention and sliding-window (128-token) layers, as many of each.
vLLM's hybrid KV cache manager gives each kind its group of KV blocks from ONE pool of
``kv_cache_tokens / block_size`` blocks (``vllm/v1/core/kv_cache_utils.py``, uniform page size):
a request holds full-attention blocks for all its tokens plus sliding-window blocks for the
last ``sliding_window - 1`` computed tokens and those being computed; blocks that fall out of
the window are freed before each allocation (``SlidingWindowManager``,
``get_num_skipped_tokens``). Only the full-attention chain is looked up in the prefix cache.

The defaults describe gpt-oss-120b on one H100 80GB at tensor parallel size 1:

- ``kv_cache_tokens`` 49,800: vLLM left 1.71 GiB for KV with ``--gpu-memory-utilization 0.95
  --max-num-batched-tokens 1024`` (docs/sources.md, Sizing, vLLM #27508), and a token of
  the 18 full-attention layers takes 36,864 B (derived, docs/sources.md, Sizing):
  1.71 GiB / 36 KiB ≈ 49,800.
- ``max_num_batched_tokens`` 1024: the recipe's workaround for the H100 TP1 out-of-memory
  (docs/sources.md, vLLM recipe, "Known limitations").
- ``max_num_seqs`` 1024: vLLM's default on a GPU of at least 70 GiB whose name lacks "a100",
  like an H100 80GB (``gptoss_sim.gpu``; vLLM ``engine/arg_utils.py``).
- ``max_model_len`` 32,768: vLLM refuses to start when one full-length sequence does not fit
  the KV pool (the vLLM #27508 situation), so the largest power of two below 49,800.
- step times: 5.5 ms + 0.8 ms per running sequence, i.e. about 180 tokens/s for a lone request
  and about 1,220 tokens/s in total at 256 sequences, near the 1,256 tokens/s per GPU Dynamo
  measured for gpt-oss-120b at concurrency 256 on H200 (docs/sources.md, vLLM recipe, Dynamo
  recipe). The single-request figure is an assumption, not a measurement.
- prefill 50 µs per prompt token (20,000 prompt tokens/s): an assumption sized so that a
  1,024-token chunk costs about one decode step at moderate batch.
- ``startup_s`` 120: loading 64 to 66 GiB of weights (docs/sources.md, Cold starts; vLLM
  #23278, #33155) plus compiling and CUDA-graph capture; an estimate, configurable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gptoss_sim.prefix_cache import BlockHash, Held, KvPool, generated_block_hash


@dataclass(frozen=True)
class CapacityParams:
    """The engine's limits and speeds (see the module docstring for where they come from)."""

    max_num_seqs: int = 1024
    max_num_batched_tokens: int = 1024
    kv_cache_tokens: int = 49_800
    block_size: int = 16
    max_model_len: int = 32_768
    # vLLM's --enable-prefix-caching: on unless --no-enable-prefix-caching
    # (engine/arg_utils.py, _set_default_chunked_prefill_and_prefix_caching_args).
    enable_prefix_caching: bool = True
    # gpt-oss's sliding-window layers (config.json sliding_window 128); None: full attention only.
    sliding_window: int | None = 128
    step_base_s: float = 0.0055
    step_per_seq_s: float = 0.0008
    prefill_token_s: float = 0.00005
    startup_s: float = 120.0
    # vLLM's --max-loras with --enable-lora: distinct adapters one step may run; None: no LoRA.
    max_loras: int | None = None

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1 or self.max_num_batched_tokens < 1 or self.block_size < 1:
            raise ValueError("max_num_seqs, max_num_batched_tokens and block_size must be >= 1")
        if self.sequence_blocks > self.total_blocks:
            # vLLM refuses to start unless one request of max_model_len fits
            # (check_enough_kv_cache_memory; docs/sources.md, Sizing, vLLM #27508).
            raise ValueError(
                f"max_model_len {self.max_model_len} does not fit the KV cache of "
                f"{self.kv_cache_tokens} tokens ({self.total_blocks} blocks, "
                f"{self.sequence_blocks} needed)"
            )

    @property
    def total_blocks(self) -> int:
        return self.kv_cache_tokens // self.block_size

    @property
    def sequence_blocks(self) -> int:
        """Blocks one request of ``max_model_len`` tokens may hold at once.

        vLLM ``FullAttentionSpec`` / ``SlidingWindowSpec.max_memory_usage_bytes``: every token's
        block, plus the window's ``sliding_window - 1`` tokens and a step's chunk, plus one.
        """
        full = blocks_for(self.max_model_len, self.block_size)
        if self.sliding_window is None:
            return full
        window = min(self.sliding_window - 1 + self.max_num_batched_tokens, self.max_model_len)
        return full + blocks_for(window, self.block_size) + 1


@dataclass(frozen=True)
class Seq:
    """One request inside the engine."""

    rid: int
    prompt_tokens: int
    output_tokens: int
    arrived_at: float
    # The hash chain over the prompt's full blocks (gptoss_sim.prefix_cache.block_hashes);
    # without it the prompt shares no blocks with other requests.
    hashes: tuple[BlockHash, ...] = ()
    computed: int = 0
    generated: int = 0
    held: Held = ()
    window: int = 0  # blocks held by the sliding-window layers
    cached_upto: int = 0  # leading blocks already offered to the cache (vLLM num_cached_block)
    scheduled_at: float | None = None
    first_token_at: float | None = None
    lora: str | None = None  # the LoRA adapter it runs with
    # Prompt tokens found in the prefix cache when first scheduled (vLLM's num_cached_tokens).
    cached_tokens: int | None = None
    preemptions: int = 0

    @property
    def target(self) -> int:
        """Tokens whose KV must exist before the next token can be sampled."""
        return self.prompt_tokens + self.generated

    @property
    def blocks(self) -> int:
        return len(self.held) + self.window

    def block_hash(self, index: int) -> BlockHash:
        if index < len(self.hashes):
            return self.hashes[index]
        return generated_block_hash(self.rid, index)


@dataclass(frozen=True)
class EngineState:
    now: float = 0.0
    waiting: tuple[Seq, ...] = ()
    running: tuple[Seq, ...] = ()
    pool: KvPool | None = None  # None: a fresh engine, every block free
    preemptions: int = 0
    prefix_queries: int = 0  # tokens looked up in the prefix cache (vLLM prefix_cache_queries)
    prefix_hits: int = 0  # tokens found there (vLLM prefix_cache_hits)


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


def pool_of(state: EngineState, params: CapacityParams) -> KvPool:
    return state.pool if state.pool is not None else KvPool.empty(params.total_blocks)


def used_blocks(state: EngineState, params: CapacityParams) -> int:
    """KV blocks held by running requests (free cached blocks do not count)."""
    return params.total_blocks - pool_of(state, params).num_free


def kv_usage(state: EngineState, params: CapacityParams) -> float:
    """``vllm:kv_cache_usage_perc``: the used fraction of KV blocks, 0..1 (``get_usage``)."""
    return used_blocks(state, params) / params.total_blocks


def add_request(state: EngineState, seq: Seq) -> EngineState:
    return replace(state, waiting=(*state.waiting, seq))


def abort(state: EngineState, rid: int, params: CapacityParams) -> EngineState:
    """Drop request ``rid`` wherever it is and free its blocks."""
    pool = pool_of(state, params)
    for seq in state.running:
        if seq.rid == rid:
            pool = _free(pool, seq)
    return replace(
        state,
        waiting=tuple(s for s in state.waiting if s.rid != rid),
        running=tuple(s for s in state.running if s.rid != rid),
        pool=pool,
    )


def _free(pool: KvPool, seq: Seq) -> KvPool:
    # vLLM KVCacheCoordinator.free: each group's blocks, tail first, full attention first.
    return pool.release(seq.held).release((None,) * seq.window)


def _preempted(seq: Seq) -> Seq:
    # Preemption by recomputation (vLLM Scheduler._preempt_request): the blocks are freed and
    # num_computed_tokens reset; readmission finds what is still cached.
    return replace(
        seq, computed=0, held=(), window=0, cached_upto=0, preemptions=seq.preemptions + 1
    )


def _skipped(computed: int, params: CapacityParams) -> int:
    """Whole blocks before the sliding window of the next token (vLLM get_num_skipped_tokens)."""
    if params.sliding_window is None:
        return 0
    return max(0, computed - params.sliding_window + 1) // params.block_size


def _window_needed(seq: Seq, tokens: int, params: CapacityParams) -> int:
    if params.sliding_window is None:
        return 0
    return blocks_for(seq.computed + tokens, params.block_size) - _skipped(seq.computed, params)


def _trim(pool: KvPool, seq: Seq, params: CapacityParams) -> tuple[KvPool, Seq]:
    """Free the sliding-window blocks the next token no longer attends to (remove_skipped_blocks,
    done before the allocation check whether or not the request then fits)."""
    live = max(0, blocks_for(seq.computed, params.block_size) - _skipped(seq.computed, params))
    if seq.window <= live:
        return pool, seq
    return pool.release((None,) * (seq.window - live)), replace(seq, window=live)


def _grow(pool: KvPool, seq: Seq, tokens: int, params: CapacityParams) -> tuple[KvPool, Seq] | None:
    """Blocks for ``seq``'s next ``tokens`` tokens, the full ones entered into the cache.

    vLLM ``KVCacheManager.allocate_slots``: ``None`` when the free queue is too short.
    """
    size = params.block_size
    extra = max(0, blocks_for(seq.computed + tokens, size) - len(seq.held))
    window = max(0, _window_needed(seq, tokens, params) - seq.window)
    if extra + window > pool.num_free:
        return None
    pool = pool.take(extra + window)
    held = list(seq.held) + [None] * extra
    upto = seq.cached_upto
    if params.enable_prefix_caching:
        full = min(seq.computed + tokens, seq.target) // size
        for index in range(upto, full):
            block_hash = seq.block_hash(index)
            pool, cached = pool.register(block_hash)
            if cached:
                held[index] = block_hash
        upto = max(upto, full)
    return pool, replace(seq, held=tuple(held), window=seq.window + window, cached_upto=upto)


def step(state: EngineState, params: CapacityParams) -> Step | None:
    """Schedule and run one engine step; ``None`` when there is nothing to do."""
    if not state.running and not state.waiting:
        return None
    size = params.block_size
    budget = params.max_num_batched_tokens
    pool = pool_of(state, params)
    running = list(state.running)
    waiting = list(state.waiting)
    preempted = 0
    queries = hits = 0
    scheduled: dict[int, int] = {}

    i = 0
    while i < len(running) and budget > 0:
        pool, seq = _trim(pool, running[i], params)
        running[i] = seq
        need = min(seq.target - seq.computed, budget)
        grown = _grow(pool, seq, need, params)
        while grown is None:
            victim = running.pop()
            pool = _free(pool, victim)
            waiting.insert(0, _preempted(victim))
            preempted += 1
            if victim is seq:
                break
            grown = _grow(pool, seq, need, params)
        if grown is None:
            break
        pool, running[i] = grown
        scheduled[seq.rid] = need
        budget -= need
        i += 1

    # vLLM's scheduler (v1/core/sched/scheduler.py) skips a waiting request whose adapter would
    # make one more distinct adapter than --max-loras in the batch; it keeps its place.
    loras = {s.lora for s in running if s.lora is not None}
    skipped: list[Seq] = []
    while not preempted and waiting and budget > 0 and len(running) < params.max_num_seqs:
        seq = waiting[0]
        if (
            params.max_loras is not None
            and seq.lora is not None
            and seq.lora not in loras
            and len(loras) >= params.max_loras
        ):
            skipped.append(waiting.pop(0))
            continue
        hit = 0
        if params.enable_prefix_caching:
            # The last token is always recomputed for its logits: at most num_tokens - 1 hit.
            most = (seq.target - 1) // size
            chain = [seq.block_hash(index) for index in range(most)]
            hit = pool.longest_hit(chain, most)
            if seq.preemptions == 0:
                queries += seq.target
                hits += hit * size
        hit_hashes = tuple(seq.block_hash(index) for index in range(hit))
        computed = hit * size
        need = min(seq.target - computed, budget)
        seq = replace(seq, computed=computed)
        wanted = blocks_for(computed + need, size) - hit + pool.blocks_to_touch(hit_hashes)
        wanted += _window_needed(seq, need, params)
        if wanted > pool.num_free:
            break
        waiting.pop(0)
        pool = pool.touch(hit_hashes)
        seq = replace(
            seq,
            held=hit_hashes,
            cached_upto=hit,
            scheduled_at=seq.scheduled_at if seq.scheduled_at is not None else state.now,
            cached_tokens=seq.cached_tokens if seq.cached_tokens is not None else computed,
        )
        grown = _grow(pool, seq, need, params)
        assert grown is not None  # the free blocks were counted above
        pool, seq = grown
        running.append(seq)
        if seq.lora is not None:
            loras.add(seq.lora)
        scheduled[seq.rid] = need
        budget -= need
    waiting[:0] = skipped

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
                pool = _free(pool, seq)
                continue
        survivors.append(seq)
    new_state = EngineState(
        now=end,
        waiting=tuple(waiting),
        running=tuple(survivors),
        pool=pool,
        preemptions=state.preemptions + preempted,
        prefix_queries=state.prefix_queries + queries,
        prefix_hits=state.prefix_hits + hits,
    )
    return Step(state=new_state, duration=duration, events=tuple(events))


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
