"""Which local pod holds a request's prefix: consistent hashing with bounded load (pure).

vLLM skips the prefill of prompt blocks it still has in its prefix cache, so a conversation's
next turn is fastest on the pod that served the last one. Every turn of a conversation resends
the same beginning: the system and developer messages, the tool schemas, the first user message.
A hash of that beginning names the conversation (``prefix_key``). OpenAI's ``prompt_cache_key``
names it when the caller sets one. Conversations of one app share the system prompt and tools
but differ from their first user message on, so they spread over the pods, and each pod caches
the shared part once.

The key is placed on a hash ring of the pods (``Ring``, 64 virtual nodes each) and the request
goes to the first pod clockwise whose load stays within ``bound`` times the mean, or under a
floor of a few requests (``choose``). This is consistent hashing with bounded loads (Mirrokni,
Thorup and Zadimoghaddam, 2016), the scheme of KubeAI's PrefixHash, whose cap is 125 % of the
mean. Every router replica
builds the same ring from the same pods, so each sends a conversation to the same pod without
asking the others. A pod that is saturated, ejected or gone drops out of the walk, and its
conversations go to the next pod on the ring, the same one on every replica. Pods that come
and go move only the conversations they held.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "BOUND",
    "FLOOR",
    "Ring",
    "choose",
    "prefix_key",
    "ring_order",
    "unrendered",
    "within_bound",
]

BOUND = 1.25  # KubeAI's default cap: no pod above 125 % of the mean load
# ... but never below this many requests: a vLLM pod batches dozens of sequences at little cost,
# so at low load moving a conversation off its cached prefix would cost more than it saves.
FLOOR = 4
_VNODES = 64
_MAX_KEY_BYTES = 64 * 1024  # a longer beginning adds nothing to the key but hashing time
_NOT_RENDERED = frozenset({"id", "status"})


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def prefix_key(route: str, payload: Mapping[str, Any]) -> int | None:
    """The hash that names a request's conversation; None when it has no usable beginning."""
    cache_key = payload.get("prompt_cache_key")
    if isinstance(cache_key, str) and cache_key:
        head: Any = ["prompt_cache_key", cache_key]
    elif route == "chat":
        head = _chat_head(payload.get("messages"))
    elif route == "responses":
        head = _responses_head(payload.get("input"))
        if head is not None:
            head = [payload.get("instructions"), head]
    else:
        prompt = payload.get("prompt")
        head = prompt[0] if isinstance(prompt, list) and prompt else prompt
        head = head if isinstance(head, str) else None
    if head is None:
        return None
    try:
        # The tools whole, apart: cut together with them, a long tool list would leave the
        # conversation's first message out of the key, and one key for every conversation.
        tools = _hash(_json(payload.get("tools")))
        text = _json([payload.get("model"), tools, head])
    except (TypeError, ValueError):
        return None
    return _hash(text[:_MAX_KEY_BYTES])


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _chat_head(messages: object) -> list[object] | None:
    """Messages up to and including the first user message."""
    if not isinstance(messages, list):
        return None
    for end, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return messages[: end + 1]
    return messages or None


def _responses_head(value: object) -> object:
    """A string input, or input items up to and including the first user message, without
    what does not render: item ids (the router gives one to each item sent without) and
    statuses."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return None
    users = (
        n for n, item in enumerate(value) if isinstance(item, dict) and item.get("role") == "user"
    )
    end = next(users, len(value) - 1)
    return [unrendered(item) for item in value[: end + 1]] or None


def unrendered(item: object) -> object:
    """A Responses input item without the fields that do not reach the prompt."""
    if not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if k not in _NOT_RENDERED}


class Ring:
    """A consistent-hash ring over pod keys."""

    def __init__(self, pods: Iterable[str]) -> None:
        self.pods = frozenset(pods)
        points = sorted(
            (_hash(f"{pod}#{i}".encode()), pod) for pod in self.pods for i in range(_VNODES)
        )
        self._hashes = [h for h, _ in points]
        self._owners = [pod for _, pod in points]

    def walk(self, key: int) -> list[str]:
        """Every pod once, in ring order from ``key``."""
        if not self._owners:
            return []
        start = bisect.bisect_left(self._hashes, key) % len(self._owners)
        seen: dict[str, None] = {}
        for i in range(len(self._owners)):
            pod = self._owners[(start + i) % len(self._owners)]
            if pod not in seen:
                seen[pod] = None
                if len(seen) == len(self.pods):
                    break
        return list(seen)


def _cap(loads: Mapping[str, int], bound: float) -> int:
    """Most a pod may hold after taking one more request: ``bound`` times the mean, rounded up,
    and at least ``FLOOR``."""
    return max(FLOOR, math.ceil(bound * (sum(loads.values()) + 1) / len(loads)))


def within_bound(loads: Mapping[str, int], pod: str, *, bound: float = BOUND) -> bool:
    """Whether ``pod`` may take one more request without passing the bound."""
    return loads[pod] + 1 <= _cap(loads, bound)


def choose(ring: Ring, key: int, loads: Mapping[str, int], *, bound: float = BOUND) -> str | None:
    """The pod for ``key`` among ``loads`` (the pods that may take it now, and their load):
    the first on the ring whose load after taking it stays within ``bound`` times the mean;
    None when ``loads`` is empty."""
    if not loads:
        return None
    cap = _cap(loads, bound)
    walked = [pod for pod in ring.walk(key) if pod in loads]
    for pod in walked:
        if loads[pod] + 1 <= cap:
            return pod
    return min(walked or list(loads), key=lambda pod: loads[pod])


def ring_order(ring: Ring, key: int, pods: Sequence[str]) -> list[str]:
    """``pods`` in ring order from ``key`` (failover after the chosen one)."""
    wanted = set(pods)
    return [pod for pod in ring.walk(key) if pod in wanted]
