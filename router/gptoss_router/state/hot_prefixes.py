"""The shared beginnings most of a model's chat requests start with, kept to warm new pods.

An agentic app sends the same system and developer messages and the same tool schemas with
every request; only the conversation after them differs. vLLM caches that beginning once per
pod (prefix caching), but a pod that has just started has it nowhere: the first request of each
app that lands there pays the whole prefill, tens of thousands of tokens for a long tool list.
This table remembers, per model, the few beginnings seen most often, so that a new pod can be
sent each once (``watch.warming``) before it takes traffic.

A *head* is what comes before the first user message: the system and developer messages, with
the tools and the fields that change how vLLM renders them for gpt-oss (``reasoning_effort``
goes into the harmony system message; ``cache_salt`` starts a separate cache; ``response_format``
into the developer message). Requests without a system or developer message or tools have
nothing worth warming. A Responses request renders through vLLM's own harmony code, not the
chat template, so its beginning is other tokens than the same prompt's through Chat
Completions: its head is counted apart (``route``), as the ``instructions``, the leading system
and developer input items, the tools and ``reasoning.effort`` (the rest of ``reasoning`` does
not render), and a new pod is warmed with it through ``/v1/responses``.

Counting is Space-Saving (Metwally, Agrawal and El Abbadi, 2005): at most ``slots`` heads per
model, a new head taking the place of the least counted with its count plus one, so a head
that keeps coming cannot be crowded out by one-offs. What a head inherits is its error: a head
counts as hot only once it was surely seen twice (its count less that error), so heads that
differ in every request (a user's name or the time in the system prompt) never do. Counts
halve every ``slots * 64`` observations so that what was hot yesterday fades. On the request
path a model's request is looked at only if ``interval_s`` has passed since the last one that
was: at most 20 a second by default, whatever the load (a look serialises and hashes the head,
70 to 120 us for 6 KB of system prompt and tools), while a quiet model has every request looked
at. Heads that matter are the frequent ones, and such a sample finds them.

Nothing here does I/O. The heads are kept in memory only, never logged or exported: they are
the apps' prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Head", "HotPrefixes", "WarmRoute", "head_of"]

WarmRoute = Literal["chat", "responses"]
_RENDERING = ("tools", "reasoning_effort", "cache_salt", "response_format")
_RESPONSES_RENDERING = ("instructions", "tools", "cache_salt")
_HEAD_ROLES = frozenset({"system", "developer"})
# Fields of an input item that do not render: the id the router gives each item sent without
# one would make every request's head another.
_NOT_RENDERED = frozenset({"id", "status"})
_MAX_HEAD_BYTES = 256 * 1024  # a longer head is not kept (and is rare)


@dataclass(frozen=True, slots=True)
class Head:
    """A hot beginning: the request fields it is made of, and the API it came through."""

    route: WarmRoute
    fields: dict[str, Any]


def head_of(payload: Mapping[str, Any], route: WarmRoute = "chat") -> dict[str, Any] | None:
    """The part of a request every request of its app shares: the messages (chat) or input
    items (Responses) before the first user message and the fields that change how they
    render; None when it has none."""
    if route == "responses":
        return _responses_head(payload)
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return None
    head: list[Any] = []
    for message in messages:
        if not isinstance(message, dict) or not _heads(message.get("role")):
            break
        head.append(message)
    fields = {name: payload[name] for name in _RENDERING if payload.get(name) is not None}
    if not head and not fields.get("tools"):
        return None
    return {"messages": head, **fields}


def _heads(role: object) -> bool:
    """Whether a message of ``role`` belongs to a prompt's head (the role as the client sent
    it: any JSON value)."""
    return isinstance(role, str) and role in _HEAD_ROLES


def _responses_head(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = payload.get("input")
    items: list[Any] = []
    for item in raw if isinstance(raw, list) else []:
        if (
            not isinstance(item, dict)
            or item.get("type", "message") != "message"
            or not _heads(item.get("role"))
        ):
            break
        items.append({k: v for k, v in item.items() if k not in _NOT_RENDERED})
    fields = {n: payload[n] for n in _RESPONSES_RENDERING if payload.get(n) is not None}
    reasoning = payload.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        fields["reasoning"] = {"effort": reasoning["effort"]}
    if not items and not fields.get("instructions") and not fields.get("tools"):
        return None
    return {"input": items, **fields}


@dataclass(slots=True)
class _Entry:
    count: int
    head: Head
    error: int = 0  # of ``count``, inherited from the head it replaced: not seen

    @property
    def seen(self) -> int:
        """Times the head was surely seen (``count`` overestimates by at most ``error``)."""
        return self.count - self.error


@dataclass(slots=True)
class _Model:
    entries: dict[bytes, _Entry] = field(default_factory=dict)
    looked_at: float = float("-inf")  # when a request was last looked at
    observed: int = 0  # looked at since the last halving


class HotPrefixes:
    """The hottest heads per model (see the module docstring)."""

    def __init__(self, *, slots: int = 32, interval_s: float = 0.05) -> None:
        self._slots = max(1, slots)
        self._interval_s = interval_s
        self._models: dict[str, _Model] = {}

    def observe(
        self, model: str, payload: Mapping[str, Any], now: float, route: WarmRoute = "chat"
    ) -> None:
        """Count a request of ``model`` arriving at ``now`` through ``route`` (looked at only
        when ``interval_s`` has passed since the last of the model's that was)."""
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _Model()
        if now - state.looked_at < self._interval_s:
            return
        state.looked_at = now
        head = head_of(payload, route)
        if head is None:
            return
        try:
            # Keys in the request's own order: the chat template renders tool schemas in it,
            # so the same tools in another order are another prefix.
            text = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError):
            return
        if len(text) > _MAX_HEAD_BYTES:
            return
        key = hashlib.blake2b(text, digest_size=16, person=route.encode()).digest()
        self._count(state, key, route, text)

    def _count(self, state: _Model, key: bytes, route: WarmRoute, text: bytes) -> None:
        # A new head is kept as its own copy (parsed back from its text): the request's
        # objects belong to the request path, which may change them after this.
        entries = state.entries
        entry = entries.get(key)
        if entry is not None:
            entry.count += 1
        elif len(entries) < self._slots:
            entries[key] = _Entry(1, Head(route, json.loads(text)))
        else:
            least = entries.pop(min(entries, key=lambda k: entries[k].count)).count
            entries[key] = _Entry(least + 1, Head(route, json.loads(text)), error=least)
        state.observed += 1
        if state.observed >= self._slots * 64:
            state.observed = 0
            for k in list(entries):
                entries[k].count //= 2
                entries[k].error //= 2
                if entries[k].count == 0:
                    del entries[k]

    def has(self, model: str) -> bool:
        """Whether any head of ``model`` has surely been seen more than once."""
        state = self._models.get(model)
        return state is not None and any(e.seen > 1 for e in state.entries.values())

    def hottest(self, model: str, most: int) -> list[Head]:
        """Up to ``most`` heads of ``model`` surely seen more than once, the most seen first."""
        state = self._models.get(model)
        if state is None or most <= 0:
            return []
        repeated = [e for e in state.entries.values() if e.seen > 1]
        return [e.head for e in sorted(repeated, key=lambda e: e.seen, reverse=True)[:most]]
