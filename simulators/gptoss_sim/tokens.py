"""Deterministic stand-ins for the tokenizer and for the words the model writes.

No tokenizer ships with the simulators, so text is counted at four characters a token (the
usual rule of thumb for English under o200k-style BPE), and each chat message adds the few
tokens of harmony framing around it (``<|start|>role<|message|>…<|end|>``). What the model
"writes" is drawn from a small vocabulary seeded by the prompt, so equal prompts get equal
answers and tests can rely on them.
"""

from __future__ import annotations

import hashlib
import math
import random

CHARS_PER_TOKEN = 4
MESSAGE_FRAMING_TOKENS = 4
REPLY_PRIMING_TOKENS = 3

VOCABULARY = (
    "the", "model", "answer", "request", "token", "cluster", "router", "queue", "latency",
    "simulated", "reply", "batch", "prompt", "engine", "cache", "result", "value", "signal",
    "pod", "provider", "reasoning", "check", "step", "so", "then", "we", "it", "is", "a",
)  # fmt: skip


def count_text(text: str) -> int:
    """Estimated tokens in ``text``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def words(seed: str, count: int) -> list[str]:
    """``count`` word tokens (each with its leading space but the first), fixed by ``seed``."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())  # noqa: S311 - not crypto
    picked = [rng.choice(VOCABULARY) for _ in range(count)]
    return [w if i == 0 else f" {w}" for i, w in enumerate(picked)]


def pieces(text: str) -> list[str]:
    """Cut ``text`` into token-sized pieces that join back to it."""
    return [text[i : i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]
