"""Automatic prefix caching as vLLM's v1 KV cache manager does it, as pure functions over values.

Follows vLLM 0.17.0 ``vllm/v1/core/kv_cache_utils.py`` (``hash_block_tokens``,
``get_request_block_hasher``), ``vllm/v1/core/block_pool.py`` (``BlockPool``,
``FreeKVCacheBlockQueue``) and ``vllm/v1/core/kv_cache_manager.py`` (``get_computed_blocks``):

- Only FULL blocks of ``block_size`` tokens are hashed, each hash chained to its parent's, so a
  block's hash names the whole prefix up to its end. The chain starts from a root that stands
  for what vLLM puts ahead of the conversation (see :func:`block_hashes`).
- A block is entered into the cache when it is allocated for tokens about to be computed
  (``allocate_slots`` → ``cache_blocks``), not when the step ends; a block whose hash is already
  cached stays a private duplicate.
- Freed blocks keep their hash and join the tail of ONE free queue, a request's blocks in
  reverse order so its tail is evicted first. New blocks are taken from the head, evicting the
  cached hash a block carried. Blocks with and without a hash share that queue, so eviction is
  least-recently-freed across both (``FreeKVCacheBlockQueue``).
- A hit is the longest chain of the request's hashes found in the cache, never the whole
  request: the last token is always recomputed to get logits (``max_cache_hit_length =
  num_tokens - 1``). Hitting a free cached block takes it out of the free queue (``touch``).

The pool is a value: every operation returns a new :class:`KvPool` and leaves its argument as
it was, so the capacity model above it stays a pure step function.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["BlockHash", "KvPool", "block_hashes", "chain_root"]

BlockHash = bytes
# A request holds one entry per KV block: the block's hash when it is a block of the prefix
# cache (shared, reference counted), None when the block is the request's own.
Held = tuple[BlockHash | None, ...]


def chain_root(*parts: str) -> BlockHash:
    """The parent hash of a prompt's first block, from what shapes its first tokens.

    vLLM starts every chain at ``NONE_HASH`` and folds ``cache_salt`` into the first block's
    extra keys (``generate_block_hash_extra_keys``); for gpt-oss the first block also holds
    the harmony system message (date, reasoning effort). The simulated tokenizer does not count
    those tokens, so their content is folded into the root instead.
    """
    return hashlib.sha256("\x1f".join(("gptoss-sim-prefix", *parts)).encode()).digest()


def block_hashes(
    token_ids: Sequence[int], block_size: int, root: BlockHash = b""
) -> tuple[BlockHash, ...]:
    """The hash chain over the full blocks of ``token_ids`` (a trailing partial block has none)."""
    hashes: list[BlockHash] = []
    parent = root or chain_root()
    for end in range(block_size, len(token_ids) + 1, block_size):
        block = array("Q", token_ids[end - block_size : end]).tobytes()
        parent = hashlib.sha256(parent + block).digest()
        hashes.append(parent)
    return tuple(hashes)


def generated_block_hash(rid: int, index: int) -> BlockHash:
    """A hash for a block filled by generated tokens of request ``rid``.

    vLLM hashes those blocks too (``request_block_hasher`` runs over all token ids); their
    content is the request's own output, so only that request (resumed after a preemption) can
    hit them. The simulator knows no output token ids, so the hash is unique to the request.
    """
    return hashlib.sha256(f"gptoss-sim-generated\x1f{rid}\x1f{index}".encode()).digest()


@dataclass(frozen=True)
class KvPool:
    """vLLM's ``BlockPool``: the free queue, and the cached blocks in use by running requests.

    ``free`` is the free queue from head (evicted first) to tail; an ``int`` entry is a run of
    blocks without a hash, a ``bytes`` entry one free block still holding a cached prefix.
    """

    free: tuple[int | BlockHash, ...]
    num_free: int
    in_use: Mapping[BlockHash, int] = field(default_factory=dict)  # hash → reference count
    evictable: frozenset[BlockHash] = frozenset()  # cached hashes of free blocks

    @classmethod
    def empty(cls, blocks: int) -> KvPool:
        return cls(free=(blocks,) if blocks > 0 else (), num_free=max(0, blocks))

    def is_cached(self, block_hash: BlockHash) -> bool:
        return block_hash in self.in_use or block_hash in self.evictable

    def longest_hit(self, hashes: Sequence[BlockHash], max_blocks: int) -> int:
        """How many leading ``hashes`` (at most ``max_blocks``) are cached."""
        hit = 0
        for block_hash in hashes[: max(0, max_blocks)]:
            if not self.is_cached(block_hash):
                break
            hit += 1
        return hit

    def blocks_to_touch(self, hashes: Iterable[BlockHash]) -> int:
        """Free blocks that hitting ``hashes`` takes out of the free queue."""
        return sum(1 for block_hash in hashes if block_hash in self.evictable)

    def touch(self, hashes: Sequence[BlockHash]) -> KvPool:
        """Take a reference on each cached block in ``hashes`` (vLLM's ``BlockPool.touch``)."""
        if not hashes:
            return self
        in_use = dict(self.in_use)
        revived = {h for h in hashes if h in self.evictable}
        for block_hash in hashes:
            in_use[block_hash] = in_use.get(block_hash, 0) + 1
        free = tuple(e for e in self.free if not (isinstance(e, bytes) and e in revived))
        return KvPool(
            free=free,
            num_free=self.num_free - len(revived),
            in_use=in_use,
            evictable=self.evictable - revived,
        )

    def take(self, count: int) -> KvPool:
        """Allocate ``count`` blocks from the head of the free queue, evicting their hashes."""
        if count <= 0:
            return self
        if count > self.num_free:
            raise ValueError(f"cannot get {count} free blocks from the pool")
        free = list(self.free)
        evicted: set[BlockHash] = set()
        left = count
        i = 0
        while left:
            entry = free[i]
            if isinstance(entry, bytes):
                evicted.add(entry)
                left -= 1
                i += 1
            elif entry <= left:
                left -= entry
                i += 1
            else:
                free[i] = entry - left
                left = 0
        return KvPool(
            free=tuple(free[i:]),
            num_free=self.num_free - count,
            in_use=self.in_use,
            evictable=self.evictable - evicted,
        )

    def register(self, block_hash: BlockHash) -> tuple[KvPool, bool]:
        """Enter one of a request's own, just-filled blocks into the cache.

        Returns False (and the pool unchanged) when the hash is already cached: the block stays
        the request's private duplicate.
        """
        if self.is_cached(block_hash):
            return self, False
        in_use = {**self.in_use, block_hash: 1}
        return KvPool(self.free, self.num_free, in_use, self.evictable), True

    def release(self, held: Held) -> KvPool:
        """Free a request's blocks, tail first (vLLM's ``SingleTypeKVCacheManager.free``)."""
        if not held:
            return self
        free = list(self.free)
        in_use = dict(self.in_use)
        evictable = set(self.evictable)
        released = 0
        for block_hash in reversed(held):
            if block_hash is None:
                released += 1
                last = free[-1] if free else None
                if isinstance(last, int):
                    free[-1] = last + 1
                else:
                    free.append(1)
                continue
            refs = in_use[block_hash] - 1
            if refs:
                in_use[block_hash] = refs
                continue
            released += 1
            del in_use[block_hash]
            evictable.add(block_hash)
            free.append(block_hash)
        return KvPool(tuple(free), self.num_free + released, in_use, frozenset(evictable))
