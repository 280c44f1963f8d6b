"""The ``chat.completion.chunk`` stream vLLM sends for one gpt-oss reply.

Followed from vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/{serving,stream_harmony}.py``
and 0.32.0 ``vllm/entrypoints/openai/chat_completion/serving.py``: chunks are
``model_dump_json(exclude_unset=True)``, so no ``usage`` key on a chunk unless
``continuous_usage_stats``; the first chunk carries ``prompt_token_ids: null``; each delta chunk
has ``token_ids: null``; the chunk with the last tokens carries ``finish_reason`` and
``stop_reason``; one delta may carry reasoning, content and tool calls together. What a delta
shows of the reply is the request's ``gptoss_sim.vllm_chat_view.View``.

A request for ``n`` choices has one writer per choice: every choice's role chunk goes out with
the first output, then each choice's chunks as its sequence produces them, under its
``index``; continuous usage counts the choice's own tokens, the last usage all of them. With
logprobs, a chunk lists the logprobs of the tokens it was made from; tokens whose chunk is not
sent (a delta with nothing to show) lose theirs, as in vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gptoss_sim import logprobs
from gptoss_sim.reply import Channel, Reply
from gptoss_sim.vllm_chat_completion import usage
from gptoss_sim.vllm_chat_view import View, raw_text
from gptoss_sim.vllm_protocol import tool_call_id


@dataclass
class ChunkWriter:
    """The ``chat.completion.chunk`` objects of one streamed reply, as vLLM sends them."""

    view: View
    rid: str
    model: str
    created: int
    prompt_tokens: int
    reply: Reply
    include_usage: bool
    continuous_usage: bool
    index: int = 0
    top_logprobs: int | None = None  # None: no logprobs
    logprobs_key: str = ""  # what the logprobs' figures are drawn from (the request's seed)
    _call_open: bool = False
    _sent: int = 0
    _shown: list[tuple[Channel, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._shown = raw_text(self.reply) if self.view.raw else self.reply.pieces()

    def _chunk(self, choice: dict[str, Any], *, first: bool = False) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }
        if self.continuous_usage:
            generated = 0 if first else self._sent
            chunk["usage"] = {
                "prompt_tokens": self.prompt_tokens,
                "total_tokens": self.prompt_tokens + generated,
                "completion_tokens": generated,
            }
        if first:
            chunk["prompt_token_ids"] = None
            if self.view.dialect.newer:
                chunk["prompt_text"] = None
        return chunk

    def opening(self) -> dict[str, Any]:
        delta = {"role": "assistant", "content": ""}
        choice = {"index": self.index, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._chunk(choice, first=True)

    def group(self, count: int) -> dict[str, Any] | None:
        """The chunk for the next ``count`` generated tokens (None: nothing to send)."""
        start = self._sent
        pieces = self._shown[start : start + count]
        self._sent += count
        last = self._sent >= len(self._shown)
        delta = self._delta(pieces)
        if not delta and not last:
            return None
        choice: dict[str, Any] = {"index": self.index, "delta": delta, "logprobs": None}
        if self.top_logprobs is not None:
            generated = [t for _, t in self.reply.pieces()[start : start + count]]
            key = f"{self.logprobs_key}:{self.index}"
            entries = logprobs.entries(key, generated, self.top_logprobs, start=start)
            choice["logprobs"] = {"content": entries}
        if last:
            choice["finish_reason"] = self.view.finish_reason(self.reply)
            choice["stop_reason"] = View.stop_reason(self.reply)
        else:
            choice["finish_reason"] = None
        choice["token_ids"] = None
        return self._chunk(choice)

    def _delta(self, pieces: list[tuple[Channel, str]]) -> dict[str, Any]:
        view: View = self.view
        delta: dict[str, Any] = {}
        content = [t for c, t in pieces if c == "content"]
        reasoning = "".join(t for c, t in pieces if c == "reasoning")
        arguments = "".join(t for c, t in pieces if c == "tool")
        if content:
            delta["content"] = "".join(content)
        if reasoning and view.reasoning:
            delta["reasoning"] = reasoning
        if arguments and view.tools and self.reply.tool_call is not None:
            calls: list[dict[str, Any]] = []
            if not self._call_open:
                # stream_harmony.extract_harmony_streaming_delta: the call opens with its id,
                # type and name, then the arguments follow in their own entry.
                self._call_open = True
                opener = {"name": self.reply.tool_call.name, "arguments": ""}
                calls.append(
                    {"id": tool_call_id(), "type": "function", "index": 0, "function": opener}
                )
            calls.append({"index": 0, "function": {"arguments": arguments}})
            delta["tool_calls"] = calls
        return delta

    def usage_chunk(
        self, replies: Sequence[Reply], details: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """The last chunk, with the usage of every choice's ``replies``
        (``exclude_unset=True, exclude_none=True``: ``null`` fields left out)."""
        return {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(self.view, self.prompt_tokens, replies, chunk=True, details=details),
        }
