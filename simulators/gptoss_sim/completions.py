"""The legacy ``/v1/completions`` endpoint: raw text, no reasoning channel.

vLLM serves it for gpt-oss (docs/sources.md, vLLM recipe, recipe "APIs"); reasoning is parsed out
only on chat completions (docs/sources.md, OpenAI API, "Reasoning appears only on
/v1/chat/completions"). Like OpenAI's, the default ``max_tokens`` is 16. A request for ``n``
choices gets a reply per choice, each sampled afresh.

``logprobs: N`` lists each token with its logprob, its text offset and a dict of the position's
first N + 1 tokens, the sampled one first (vLLM 0.17.0
``vllm/entrypoints/openai/completion/serving.py``, ``_create_completion_logprobs``): the engine
is asked for N, and the sampled token, the simulated model's most likely one, is among them, so
the dict holds N tokens (one for N = 0). A stream's chunk lists its own tokens, their offsets
counted from the text sent before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gptoss_sim import logprobs, tokens
from gptoss_sim.errors import SimError
from gptoss_sim.reply import Reply, ReplyParams

DEFAULT_MAX_TOKENS = 16


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt: str
    prompt_tokens: int
    stream: bool
    include_usage: bool
    replies: tuple[Reply, ...]  # one per choice
    logprobs: int | None = None  # top tokens per position (None: no logprobs)

    @property
    def reply(self) -> Reply:
        """The first choice's reply."""
        return self.replies[0]


def prompt_of(body: Any) -> str:
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise SimError(400, "prompt must be a string (one prompt per request is simulated)")
    return prompt


def parse_completion(
    body: Any, params: ReplyParams, *, max_tokens: int | None = None, require_model: bool = True
) -> CompletionRequest:
    """Read a completions body; ``max_tokens`` overrides the body's (a server's clamp)."""
    if not isinstance(body, dict) or (require_model and not isinstance(body.get("model"), str)):
        raise SimError(400, "model is required", param="model")
    prompt = prompt_of(body)
    if max_tokens is None:
        max_tokens = body.get("max_tokens") or DEFAULT_MAX_TOKENS
    n = body.get("n")
    n = 1 if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SimError(400, f"n must be at least 1, got {n}.", param="n")
    wanted = body.get("logprobs")
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int)):
        raise SimError(400, "logprobs must be an integer", param="logprobs")
    count = min(max_tokens, params.answer_tokens)
    finish: Literal["stop", "length"] = "length" if max_tokens < params.answer_tokens else "stop"
    seeds = [prompt, *(f"{prompt}#choice{i}" for i in range(1, n))]
    return CompletionRequest(
        model=str(body.get("model") or ""),
        prompt=prompt,
        prompt_tokens=tokens.count_text(prompt),
        stream=bool(body.get("stream", False)),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage", False)),
        replies=tuple(
            Reply((), tuple(tokens.words(seed, count)), None, (), finish) for seed in seeds
        ),
        logprobs=wanted,
    )


def text_logprobs(
    key: str, texts: list[str], top: int | None, *, start: int = 0, offset: int = 0
) -> dict[str, Any] | None:
    """``CompletionLogProbs`` of ``texts``, generated from token ``start`` on, whose text
    begins at character ``offset`` (None: no logprobs asked)."""
    if top is None:
        return None
    found = logprobs.entries(key, texts, max(top, 1), start=start)
    offsets: list[int] = []
    for text in texts:
        offsets.append(offset)
        offset += len(text)
    return {
        "text_offset": offsets,
        "token_logprobs": [e["logprob"] for e in found],
        "tokens": [e["token"] for e in found],
        "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in found],
    }


def vllm_choice(
    text: str,
    finish_reason: str | None,
    *,
    stream: bool,
    index: int = 0,
    token_logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """vLLM's ``CompletionResponseChoice`` / ``CompletionResponseStreamChoice``, every field
    (vllm/entrypoints/openai/completion/protocol.py, 0.17)."""
    out: dict[str, Any] = {
        "index": index,
        "text": text,
        "logprobs": token_logprobs,
        "finish_reason": finish_reason,
        "stop_reason": None,
    }
    if stream:
        return out | {"prompt_token_ids": None, "token_ids": None}
    return out | {"token_ids": None, "prompt_logprobs": None, "prompt_token_ids": None}


def vllm_object(
    rid: str, model: str, created: int, choices: list[dict[str, Any]], usage: Any, *, stream: bool
) -> dict[str, Any]:
    """vLLM's ``CompletionResponse`` (``model_dump()``) or ``CompletionStreamResponse``.

    Stream chunks are dumped with ``exclude_unset=False``, so every chunk has ``usage: null``;
    the usage chunk is dumped with ``exclude_none=True`` (vllm/entrypoints/openai/completion/
    serving.py ``completion_stream_generator``).
    """
    body: dict[str, Any] = {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if stream:
        body["usage"] = usage
        return body
    body |= {"service_tier": None, "system_fingerprint": None, "usage": usage}
    body["kv_transfer_params"] = None
    return body


def choice(
    text: str,
    finish_reason: str | None,
    *,
    index: int = 0,
    token_logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "index": index,
        "text": text,
        "logprobs": token_logprobs,
        "finish_reason": finish_reason,
    }


def completion_object(
    rid: str, model: str, created: int, choices: list[dict[str, Any]], usage: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not ...:
        body["usage"] = usage
    return body
