"""The log probabilities of the tokens the simulated gpt-oss writes (``logprobs``), in the
shape Chat Completions returns them.

Followed from vLLM 0.17.0: ``_create_chat_logprobs`` and ``_get_top_logprobs``
(``vllm/entrypoints/openai/chat_completion/serving.py``) and
``append_logprobs_for_next_position`` (``vllm/logprobs.py``). Each generated token gets an
entry: the token, its logprob (floored at -9999.0), its UTF-8 bytes, and the first
``top_logprobs`` entries of its position, which list the sampled token first and then the most
likely tokens in rank order (the sampled token, when it is among them, once). The simulated
model samples its most likely token, so ``top_logprobs`` opens with the sampled token itself;
``-1`` asks for the whole vocabulary (the simulator's few words).

The figures are a pure function of the reply's key and the token's position, so equal requests
get equal logprobs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from gptoss_sim.tokens import VOCABULARY

__all__ = ["entries"]

_FLOOR = -9999.0


def entries(key: str, tokens: Sequence[str], top: int, *, start: int = 0) -> list[dict[str, Any]]:
    """The ``logprobs.content`` entries of ``tokens``, generated from position ``start`` on in
    the reply ``key`` names, each with its ``top`` most likely tokens (-1: all)."""
    return [_entry(key, start + i, token, top) for i, token in enumerate(tokens)]


def _entry(key: str, position: int, token: str, top: int) -> dict[str, Any]:
    digest = hashlib.sha256(f"{key}:{position}".encode()).digest()
    rng = random.Random(digest)  # noqa: S311 - not crypto
    logprob = -rng.uniform(0.0, 1.5)
    others = [w for w in VOCABULARY if w != token.strip()]
    rng.shuffle(others)
    wanted = len(others) + 1 if top == -1 else top
    ranked = [(token, logprob)]
    below = logprob
    for word in others[: max(0, wanted - 1)]:
        below -= rng.uniform(0.05, 2.0)
        ranked.append((f" {word}" if token.startswith(" ") else word, below))
    return {
        "token": token,
        "logprob": max(logprob, _FLOOR),
        "bytes": list(token.encode("utf-8", errors="replace")),
        "top_logprobs": [
            {
                "token": text,
                "logprob": max(value, _FLOOR),
                "bytes": list(text.encode("utf-8", errors="replace")),
            }
            for text, value in ranked[: max(0, wanted)]
        ],
    }
