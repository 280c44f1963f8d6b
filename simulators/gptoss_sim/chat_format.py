"""Chat completions and their stream chunks, in the shape each server writes them.

The chunk sequence follows OpenAI's streaming contract (docs/sources.md, OpenAI API): a first chunk
with the role, deltas, a last chunk with ``finish_reason``; with ``stream_options.include_usage``
every chunk carries ``usage: null`` and one extra chunk with ``choices: []`` and the usage comes
before ``data: [DONE]``. A request for ``n`` choices gets one choice per sampled reply, each
streamed under its ``index``; usage counts them all. ``logprobs`` cover the tokens of the
message's ``content`` (OpenAI: "each output token returned in the content of message").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gptoss_sim import logprobs
from gptoss_sim.reply import Channel, Reply


@dataclass(frozen=True)
class ChatStyle:
    """How a server presents a reply.

    ``reasoning_field`` names the field reasoning goes in (None: not shown); ``raw_reasoning``
    puts it in the content between ``<think>`` tags instead. (vLLM's own shapes are
    ``gptoss_sim.vllm_chat_view``.)
    """

    reasoning_field: str | None = "reasoning"
    raw_reasoning: bool = False


def visible(pieces: list[tuple[Channel, str]], style: ChatStyle) -> list[tuple[Channel, str]]:
    """The pieces as the client sees them under ``style``."""
    if style.raw_reasoning:
        out: list[tuple[Channel, str]] = []
        for i, (channel, text) in enumerate(pieces):
            if channel == "reasoning":
                opening = "<think>" if i == 0 else ""
                closing = "</think>" if i + 1 == len(pieces) or pieces[i + 1][0] != channel else ""
                out.append(("content", f"{opening}{text}{closing}"))
            else:
                out.append((channel, text))
        return out
    if style.reasoning_field is None:
        return [p for p in pieces if p[0] != "reasoning"]
    return pieces


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    replies: Sequence[Reply],
    *,
    rid: str,
    model: str,
    created: int,
    prompt_tokens: int,
    style: ChatStyle,
    tool_call_id: str,
    top_logprobs: int | None = None,
    logprobs_key: str = "",
) -> dict[str, Any]:
    """A whole ``chat.completion`` object, a choice per reply."""
    choices = [
        _choice(reply, index, style, tool_call_id, f"{logprobs_key}:{index}", top_logprobs)
        for index, reply in enumerate(replies)
    ]
    generated = sum(reply.completion_tokens for reply in replies)
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage(prompt_tokens, generated),
    }


def _choice(
    reply: Reply, index: int, style: ChatStyle, tool_call_id: str, key: str, top: int | None
) -> dict[str, Any]:
    shown = visible(reply.pieces(), style)
    said = [t for c, t in shown if c == "content"]
    content = "".join(said)
    reasoning = "".join(t for c, t in shown if c == "reasoning")
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if reply.tool_call is not None:
        message["tool_calls"] = [
            {
                "id": tool_call_id,
                "type": "function",
                "function": {"name": reply.tool_call.name, "arguments": reply.tool_call.arguments},
            }
        ]
    if style.reasoning_field is not None and not style.raw_reasoning:
        message[style.reasoning_field] = reasoning or None
    return {
        "index": index,
        "message": message,
        "logprobs": _logprobs(key, said, top),
        "finish_reason": reply.finish_reason,
    }


def _logprobs(key: str, said: list[str], top: int | None, start: int = 0) -> dict[str, Any] | None:
    if top is None:
        return None
    return {"content": logprobs.entries(key, said, top, start=start), "refusal": None}


@dataclass
class ChunkWriter:
    """Builds the ``chat.completion.chunk`` objects of one streamed reply."""

    rid: str
    model: str
    created: int
    style: ChatStyle
    include_usage: bool
    tool_call_id: str
    tool_name: str | None = None
    index: int = 0
    top_logprobs: int | None = None  # None: no logprobs
    logprobs_key: str = ""  # what the logprobs' figures are drawn from (the request's seed)
    _tool_started: bool = False
    _said: int = 0  # content tokens sent so far

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _delta(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        token_logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        choice = {
            "index": self.index,
            "delta": delta,
            "logprobs": token_logprobs,
            "finish_reason": finish_reason,
        }
        return self._chunk([choice])

    def opening(self) -> dict[str, Any]:
        return self._delta({"role": "assistant", "content": ""})

    def deltas(self, pieces: list[tuple[Channel, str]]) -> list[dict[str, Any]]:
        """One chunk per run of same-channel pieces."""
        chunks: list[dict[str, Any]] = []
        runs: list[tuple[Channel, list[str]]] = []
        for channel, text in visible(pieces, self.style):
            if runs and runs[-1][0] == channel:
                runs[-1][1].append(text)
            else:
                runs.append((channel, [text]))
        for channel, texts in runs:
            text = "".join(texts)
            if channel == "content":
                key = f"{self.logprobs_key}:{self.index}"
                said = _logprobs(key, texts, self.top_logprobs, start=self._said)
                self._said += len(texts)
                chunks.append(self._delta({"content": text}, token_logprobs=said))
            elif channel == "reasoning" and self.style.reasoning_field is not None:
                chunks.append(self._delta({self.style.reasoning_field: text}))
            elif channel == "tool":
                chunks.append(self._delta({"tool_calls": [self._tool_delta(text)]}))
        return chunks

    def _tool_delta(self, arguments: str) -> dict[str, Any]:
        if self._tool_started:
            return {"index": 0, "function": {"arguments": arguments}}
        self._tool_started = True
        return {
            "index": 0,
            "id": self.tool_call_id,
            "type": "function",
            "function": {"name": self.tool_name, "arguments": arguments},
        }

    def closing(self, finish_reason: str) -> dict[str, Any]:
        return self._delta({}, finish_reason)

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        chunk = self._chunk([])
        chunk["usage"] = usage(prompt_tokens, completion_tokens)
        return chunk
