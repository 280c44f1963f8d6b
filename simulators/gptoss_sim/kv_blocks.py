"""The KV-cache blocks one request holds, as vLLM's hybrid KV cache manager allocates them.

gpt-oss alternates full-attention and sliding-window (128-token) layers, as many of each.
vLLM's hybrid KV cache manager gives each kind its group of KV blocks from ONE pool of
``kv_cache_tokens / block_size`` blocks (``vllm/v1/core/kv_cache_utils.py``, uniform page size):
a request holds full-attention blocks for all its tokens plus sliding-window blocks for the
last ``sliding_window - 1`` computed tokens and those being computed; blocks that fall out of
the window are freed before each allocation (``SlidingWindowManager``,
``get_num_skipped_tokens``). Only the full-attention chain is looked up in the prefix cache:
its full blocks are entered into the cache as they fill (``gptoss_sim.prefix_cache``).

Each function takes the pool and a request and returns them changed, as new values.
"""

from __future__ import annotations

from dataclasses import replace

from gptoss_sim.capacity import CapacityParams, blocks_for
from gptoss_sim.engine_state import Seq
from gptoss_sim.prefix_cache import KvPool


def free(pool: KvPool, seq: Seq) -> KvPool:
    """The pool with ``seq``'s blocks back in it (vLLM ``KVCacheCoordinator.free``: each
    group's blocks, tail first, full attention first)."""
    return pool.release(seq.held).release((None,) * seq.window)


def preempted(seq: Seq) -> Seq:
    """``seq`` preempted by recomputation (vLLM ``Scheduler._preempt_request``): its blocks
    freed (see :func:`free`) and ``num_computed_tokens`` reset; readmission finds what is still
    cached."""
    return replace(
        seq, computed=0, held=(), window=0, cached_upto=0, preemptions=seq.preemptions + 1
    )


def _skipped(computed: int, params: CapacityParams) -> int:
    """Whole blocks before the sliding window of the next token (vLLM get_num_skipped_tokens)."""
    if params.sliding_window is None:
        return 0
    return max(0, computed - params.sliding_window + 1) // params.block_size


def window_needed(seq: Seq, tokens: int, params: CapacityParams) -> int:
    """Sliding-window blocks ``seq`` needs to compute its next ``tokens`` tokens."""
    if params.sliding_window is None:
        return 0
    return blocks_for(seq.computed + tokens, params.block_size) - _skipped(seq.computed, params)


def trim(pool: KvPool, seq: Seq, params: CapacityParams) -> tuple[KvPool, Seq]:
    """Free the sliding-window blocks the next token no longer attends to (remove_skipped_blocks,
    done before the allocation check whether or not the request then fits)."""
    live = max(0, blocks_for(seq.computed, params.block_size) - _skipped(seq.computed, params))
    if seq.window <= live:
        return pool, seq
    return pool.release((None,) * (seq.window - live)), replace(seq, window=live)


def grow(pool: KvPool, seq: Seq, tokens: int, params: CapacityParams) -> tuple[KvPool, Seq] | None:
    """Blocks for ``seq``'s next ``tokens`` tokens, the full ones entered into the cache.

    vLLM ``KVCacheManager.allocate_slots``: ``None`` when the free queue is too short.
    """
    size = params.block_size
    extra = max(0, blocks_for(seq.computed + tokens, size) - len(seq.held))
    window = max(0, window_needed(seq, tokens, params) - seq.window)
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
