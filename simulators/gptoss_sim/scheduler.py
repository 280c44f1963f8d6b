"""One step of vLLM's scheduler over the engine's state, and aborting a request.

vLLM runs the model in steps. Each step serves every running sequence: one decode token for
those already past their prompt, a chunk of prompt ("chunked prefill") for those still reading
it, all within a budget of ``max_num_batched_tokens`` tokens. At most ``max_num_seqs`` sequences
run at once; the rest wait in a FIFO queue. A step lasts ``step_base_s``, plus
``step_per_seq_s`` per sequence it serves, plus ``prefill_token_s`` per prompt token it
prefills (``gptoss_sim.capacity``).

Scheduling follows vLLM 0.17.0 ``vllm/v1/core/sched/scheduler.py`` (``Scheduler.schedule``):
running requests first, in order, each taking KV blocks for just the tokens scheduled this step
(``allocate_slots``, ``gptoss_sim.kv_blocks.grow``); when the pool runs dry the LAST running
request is preempted (its blocks freed, its progress recomputed later) until the request fits or
preempts itself; waiting requests are admitted, first come first served, only in a step that
preempted nothing, while fewer than ``max_num_seqs`` run and the token budget lasts. With prefix
caching on (vLLM's default) a waiting request first looks its prompt's block hashes up in the
cache and skips the prefill of what it finds (``gptoss_sim.prefix_cache``); the lookup is
counted in ``prefix_queries``/``prefix_hits`` (tokens) on every attempt to admit a request that
has not been preempted, as ``KVCacheManager.get_computed_blocks`` records it. With LoRA on, a
step runs at most ``max_loras`` distinct adapters.
"""

from __future__ import annotations

from dataclasses import replace

from gptoss_sim import kv_blocks
from gptoss_sim.capacity import CapacityParams, blocks_for
from gptoss_sim.engine_state import EngineState, Seq, Step, TokenEvent, pool_of


def abort(state: EngineState, rid: int, params: CapacityParams) -> EngineState:
    """Drop request ``rid`` wherever it is and free its blocks."""
    pool = pool_of(state, params)
    for seq in state.running:
        if seq.rid == rid:
            pool = kv_blocks.free(pool, seq)
    return replace(
        state,
        waiting=tuple(s for s in state.waiting if s.rid != rid),
        running=tuple(s for s in state.running if s.rid != rid),
        pool=pool,
    )


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
        pool, seq = kv_blocks.trim(pool, running[i], params)
        running[i] = seq
        need = min(seq.target - seq.computed, budget)
        grown = kv_blocks.grow(pool, seq, need, params)
        while grown is None:
            victim = running.pop()
            pool = kv_blocks.free(pool, victim)
            waiting.insert(0, kv_blocks.preempted(victim))
            preempted += 1
            if victim is seq:
                break
            grown = kv_blocks.grow(pool, seq, need, params)
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
        wanted += kv_blocks.window_needed(seq, need, params)
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
        grown = kv_blocks.grow(pool, seq, need, params)
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
                pool = kv_blocks.free(pool, seq)
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
