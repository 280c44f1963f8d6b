"""A whole ``chat.completion`` as vLLM writes it for gpt-oss, and its ``usage``.

Followed from vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/{protocol,serving}.py`` and
0.32.0 ``vllm/entrypoints/openai/chat_completion/serving.py``: the whole response is
``model_dump()``, every field, ``null`` included. 0.32 drops an empty ``tool_calls`` from the
message (``ChatMessage._serialize``); 0.17 keeps ``[]``. What the message shows of the reply is
the request's ``gptoss_sim.vllm_chat_view.View``. A request for ``n`` choices gets one choice per
sampled sequence, and usage counts the tokens of all of them
(``chat_completion_full_generator``). With logprobs, each choice lists every token the model
generated, the reasoning's and the call's too: harmony parses the text from the token ids, and
the logprobs are taken over all of them (``_create_chat_logprobs(token_ids=output.token_ids)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gptoss_sim import logprobs
from gptoss_sim.reply import Reply
from gptoss_sim.vllm_chat_view import View, raw_text
from gptoss_sim.vllm_protocol import tool_call_id


def usage(
    view: View,
    prompt_tokens: int,
    replies: Sequence[Reply],
    *,
    chunk: bool = False,
    details: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``UsageInfo``: whole (every field) or in the last chunk (``exclude_none``). ``details`` is
    ``prompt_tokens_details`` (cached tokens, with ``--enable-prompt-tokens-details``); 0.32
    adds ``completion_tokens_details.reasoning_tokens`` when a reasoning parser is on."""
    generated = sum(reply.completion_tokens for reply in replies)
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + generated,
        "completion_tokens": generated,
    }
    d = view.dialect
    thought = sum(len(reply.reasoning) for reply in replies)
    reasoning = {"reasoning_tokens": thought} if d.newer and d.reasoning_parser else None
    if not chunk:
        body["prompt_tokens_details"] = details
        if d.newer:
            body["completion_tokens_details"] = reasoning
        return body
    if details is not None:
        body["prompt_tokens_details"] = details
    if reasoning is not None:
        body["completion_tokens_details"] = reasoning
    return body


def logprobs_of(key: str, reply: Reply, top: int | None) -> dict[str, Any] | None:
    """A choice's ``logprobs``: every generated token's (None: the request asked for none)."""
    if top is None:
        return None
    return {"content": logprobs.entries(key, [t for _, t in reply.pieces()], top)}


def completion(
    view: View,
    replies: Sequence[Reply],
    *,
    rid: str,
    model: str,
    created: int,
    prompt_tokens: int,
    details: dict[str, int] | None = None,
    top_logprobs: int | None = None,
    logprobs_key: str = "",
) -> dict[str, Any]:
    """A whole ``chat.completion`` (``ChatCompletionResponse.model_dump()``)."""
    d = view.dialect
    choices = [
        _choice(view, reply, index, logprobs_of(f"{logprobs_key}:{index}", reply, top_logprobs))
        for index, reply in enumerate(replies)
    ]
    body: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage(view, prompt_tokens, replies, details=details),
        "prompt_logprobs": None,
        "prompt_token_ids": None,
    }
    if d.newer:
        body["prompt_text"] = None
    body["kv_transfer_params"] = None
    if d.newer:
        body["ec_transfer_params"] = None
        body["metrics"] = None
    return body


def _choice(
    view: View, reply: Reply, index: int, token_logprobs: dict[str, Any] | None
) -> dict[str, Any]:
    d = view.dialect
    pieces = raw_text(reply) if view.raw else reply.pieces()
    content = "".join(t for c, t in pieces if c == "content") or None
    reasoning = "".join(t for c, t in pieces if c == "reasoning") or None
    calls: list[dict[str, Any]] = []
    if reply.tool_call is not None and view.tools:
        calls.append(
            {
                "id": tool_call_id(),
                "type": "function",
                "function": {"name": reply.tool_call.name, "arguments": reply.tool_call.arguments},
            }
        )
    if d.newer and view.choice in ("named", "required") and not view.raw:
        content = content or ""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": calls,
        "reasoning": reasoning if view.reasoning else None,
    }
    if d.newer and not calls:
        del message["tool_calls"]
    choice: dict[str, Any] = {
        "index": index,
        "message": message,
        "logprobs": token_logprobs,
        "finish_reason": view.finish_reason(reply),
        "stop_reason": View.stop_reason(reply),
        "token_ids": None,
    }
    if d.newer:
        choice["routed_experts"] = None
    return choice
