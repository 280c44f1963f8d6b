"""What the simulated gpt-oss writes for a request: reasoning, then an answer or a tool call.

gpt-oss always reasons before it answers (the harmony ``analysis`` channel), longer at higher
``reasoning_effort``, and ``max_tokens`` caps reasoning and answer together. The plan is a pure
function of the request, so a request always gets the same reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gptoss_sim import schema_fill, tokens

Channel = Literal["reasoning", "content", "tool"]
EFFORTS = ("low", "medium", "high")


def _default_reasoning() -> dict[str, int]:
    return {"low": 16, "medium": 48, "high": 160}


@dataclass(frozen=True)
class ReplyParams:
    """How long replies are, in tokens."""

    reasoning_tokens: Mapping[str, int] = field(default_factory=_default_reasoning)
    answer_tokens: int = 48


@dataclass(frozen=True)
class Ask:
    """The parts of a request that decide the reply."""

    seed: str
    effort: str = "medium"
    max_tokens: int | None = None
    tool: Mapping[str, Any] | None = None
    schema: Mapping[str, Any] | None = None
    json_object: bool = False


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    reasoning: tuple[str, ...]
    content: tuple[str, ...]
    tool_call: ToolCall | None
    tool_pieces: tuple[str, ...]
    finish_reason: Literal["stop", "length", "tool_calls"]

    @property
    def engine_finish(self) -> Literal["stop", "length"]:
        """Why the engine stopped: a tool call ends on a stop token, so "stop" (vLLM's
        ``FinishReason``: stop, length, abort, error, repetition; vllm/v1/engine/__init__.py)."""
        return "length" if self.finish_reason == "length" else "stop"

    @property
    def completion_tokens(self) -> int:
        return len(self.reasoning) + len(self.content) + len(self.tool_pieces)

    def pieces(self) -> list[tuple[Channel, str]]:
        """Every generated token, in order, with the channel it belongs to."""
        out: list[tuple[Channel, str]] = [("reasoning", t) for t in self.reasoning]
        out += [("content", t) for t in self.content]
        out += [("tool", t) for t in self.tool_pieces]
        return out


def plan_choices(ask: Ask, params: ReplyParams, n: int) -> list[Reply]:
    """The replies of ``n`` choices: the first is ``plan(ask)``, each other one is sampled
    afresh (its words drawn from a seed of its own), as vLLM samples each of a request's ``n``
    sequences independently."""
    return [
        plan(ask if i == 0 else replace(ask, seed=f"{ask.seed}#choice{i}"), params)
        for i in range(n)
    ]


def plan(ask: Ask, params: ReplyParams) -> Reply:
    budget = ask.max_tokens if ask.max_tokens is not None else 1 << 30
    reasoning = tokens.words(f"reasoning:{ask.seed}", params.reasoning_tokens[ask.effort])
    if len(reasoning) >= budget:
        return Reply(tuple(reasoning[:budget]), (), None, (), "length")
    budget -= len(reasoning)
    if ask.tool is not None:
        function = ask.tool.get("function", ask.tool)
        arguments = json.dumps(schema_fill.example(function.get("parameters", {})) or {})
        args = tokens.pieces(arguments)
        if len(args) > budget:
            return Reply(tuple(reasoning), (), None, (), "length")
        return Reply(
            tuple(reasoning), (), ToolCall(function["name"], arguments), tuple(args), "tool_calls"
        )
    if ask.schema is not None:
        content = tokens.pieces(json.dumps(schema_fill.example(dict(ask.schema))))
    elif ask.json_object:
        content = tokens.pieces(json.dumps({"answer": "".join(tokens.words(ask.seed, 3))}))
    else:
        content = tokens.words(ask.seed, params.answer_tokens)
    if len(content) > budget:
        return Reply(tuple(reasoning), tuple(content[:budget]), None, (), "length")
    return Reply(tuple(reasoning), tuple(content), None, (), "stop")
