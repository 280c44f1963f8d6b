"""The state of one vLLM engine as immutable values: its requests, its KV pool, its counters.

A request inside the engine is a ``Seq``: how much of its prompt and output it has computed,
the KV blocks it holds and when it was scheduled and produced its first token. The engine is an
``EngineState``: the waiting queue (first come, first served), the running batch, the shared KV
pool (``gptoss_sim.prefix_cache.KvPool``) and the counters vLLM reports as metrics. One step of
the scheduler (``gptoss_sim.scheduler.step``) turns a state into the next and the
``TokenEvent``s of the tokens it produced. Nothing here changes in place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.prefix_cache import BlockHash, Held, KvPool, generated_block_hash


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
