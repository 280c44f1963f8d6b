"""The legacy ``/v1/completions`` endpoint: raw text, no reasoning channel.

vLLM serves it for gpt-oss (docs/sources.md, vLLM recipe, recipe "APIs"); reasoning is parsed out
only on chat completions (docs/sources.md, OpenAI API, "Reasoning appears only on
/v1/chat/completions"). Like OpenAI's, the default ``max_tokens`` is 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gptoss_sim import tokens
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
    reply: Reply


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
    words = tokens.words(prompt, min(max_tokens, params.answer_tokens))
    finish: Literal["stop", "length"] = "length" if max_tokens < params.answer_tokens else "stop"
    return CompletionRequest(
        model=str(body.get("model") or ""),
        prompt=prompt,
        prompt_tokens=tokens.count_text(prompt),
        stream=bool(body.get("stream", False)),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage", False)),
        reply=Reply((), tuple(words), None, (), finish),
    )


def vllm_choice(text: str, finish_reason: str | None, *, stream: bool) -> dict[str, Any]:
    """vLLM's ``CompletionResponseChoice`` / ``CompletionResponseStreamChoice``, every field
    (vllm/entrypoints/openai/completion/protocol.py, 0.17)."""
    out: dict[str, Any] = {
        "index": 0,
        "text": text,
        "logprobs": None,
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


def choice(text: str, finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}


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
