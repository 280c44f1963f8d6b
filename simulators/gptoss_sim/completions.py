"""The legacy ``/v1/completions`` endpoint: raw text, no reasoning channel.

vLLM serves it for gpt-oss (operator-anchors.md §3.1, recipe "APIs"); reasoning is parsed out
only on chat completions (router-anchors.md §4, "Reasoning appears only on
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


def parse_completion(body: Any, params: ReplyParams) -> CompletionRequest:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise SimError(400, "model is required", param="model")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise SimError(400, "prompt must be a string (one prompt per request is simulated)")
    max_tokens = body.get("max_tokens") or DEFAULT_MAX_TOKENS
    words = tokens.words(prompt, min(max_tokens, params.answer_tokens))
    finish: Literal["stop", "length"] = "length" if max_tokens < params.answer_tokens else "stop"
    return CompletionRequest(
        model=body["model"],
        prompt=prompt,
        prompt_tokens=tokens.count_text(prompt),
        stream=bool(body.get("stream", False)),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage", False)),
        reply=Reply((), tuple(words), None, (), finish),
    )


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
