"""What one chat request shows of a gpt-oss reply, under the vLLM release simulated.

Followed from vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/{serving,stream_harmony}.py``
and 0.32.0 ``vllm/entrypoints/openai/chat_completion/serving.py`` with ``vllm/parser/harmony.py``.
Harmony decides what shows: 0.17 always parses reasoning (the reasoning parser does not matter),
surfaces non-streamed tool calls only with ``--tool-call-parser`` and streams them regardless;
0.32 shows reasoning only with ``--reasoning-parser``, tool calls only with
``--tool-call-parser``, and with neither parser returns the raw harmony text as content
(:func:`raw_text`). The finish and stop reasons follow from what shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_sim.reply import Channel, Reply
from gptoss_sim.vllm_protocol import CALL_TOKEN_ID, Dialect


@dataclass(frozen=True)
class View:
    """What one request shows of a reply under one dialect."""

    dialect: Dialect
    choice: str
    include_reasoning: bool
    stream: bool

    @property
    def raw(self) -> bool:
        """0.32 without either parser: no parser at all, content is the decoded text."""
        d = self.dialect
        return d.newer and not d.tool_parser and not d.reasoning_parser

    @property
    def reasoning(self) -> bool:
        if self.raw or not self.include_reasoning:
            return False
        return self.dialect.reasoning_parser if self.dialect.newer else True

    @property
    def tools(self) -> bool:
        d = self.dialect
        if self.raw:
            return False
        if not d.newer:
            # Streaming harmony always emits tool-call deltas (stream_harmony.py); the whole
            # response surfaces them only through the tool parser.
            return True if self.stream else d.tool_parser
        if not d.tool_parser:
            return False
        if self.stream or self.choice in ("named", "required"):
            return True
        return self.choice == "auto" and d.auto_tools

    def finish_reason(self, reply: Reply) -> str:
        if reply.finish_reason == "length" or reply.tool_call is None:
            return "length" if reply.finish_reason == "length" else "stop"
        d = self.dialect
        if not d.newer:
            return "tool_calls" if self.tools else "stop"
        if self.stream:
            return "tool_calls" if self.tools and self.choice != "named" else "stop"
        if self.choice == "required":
            return "tool_calls"
        return "tool_calls" if self.tools and self.choice == "auto" else "stop"

    @staticmethod
    def stop_reason(reply: Reply) -> int | None:
        # <|call|> is a stop token id; <|return|> is the EOS and leaves stop_reason empty.
        return CALL_TOKEN_ID if reply.finish_reason == "tool_calls" else None


def raw_text(reply: Reply) -> list[tuple[Channel, str]]:
    """The decoded harmony text with special tokens skipped, as 0.32 without parsers returns it."""
    out: list[tuple[Channel, str]] = []
    for i, (channel, text) in enumerate(reply.pieces()):
        if i == 0:
            text = f"analysis{text}"
        elif channel != "reasoning" and reply.pieces()[i - 1][0] == "reasoning":
            head = "final" if channel == "content" else _call_header(reply)
            text = f"assistant{head}{text}"
        out.append(("content", text))
    return out


def _call_header(reply: Reply) -> str:
    name = reply.tool_call.name if reply.tool_call else ""
    return f"commentary to=functions.{name} json"
