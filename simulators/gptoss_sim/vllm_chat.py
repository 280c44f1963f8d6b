"""``/v1/chat/completions`` as vLLM writes it for gpt-oss: the body it checks, the whole
``chat.completion`` and the ``chat.completion.chunk`` stream.

Followed from vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/{protocol,serving,
stream_harmony}.py`` and 0.32.0 ``vllm/entrypoints/openai/chat_completion/serving.py`` with
``vllm/parser/harmony.py``:

* Whole responses are ``model_dump()``: every field, ``null`` included. 0.32 drops an empty
  ``tool_calls`` from the message (``ChatMessage._serialize``); 0.17 keeps ``[]``.
* Chunks are ``model_dump_json(exclude_unset=True)``: no ``usage`` key on a chunk unless
  ``continuous_usage_stats``; the first chunk carries ``prompt_token_ids: null``; each delta
  chunk has ``token_ids: null``; the chunk with the last tokens carries ``finish_reason`` and
  ``stop_reason``; one delta may carry reasoning, content and tool calls together.
* Harmony decides what shows: 0.17 always parses reasoning (the reasoning parser does not
  matter), surfaces non-streamed tool calls only with ``--tool-call-parser`` and streams them
  regardless; 0.32 shows reasoning only with ``--reasoning-parser``, tool calls only with
  ``--tool-call-parser``, and with neither parser returns the raw harmony text as content.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gptoss_sim.reply import Channel, Reply
from gptoss_sim.vllm_protocol import (
    CALL_TOKEN_ID,
    Dialect,
    invalid_body,
    literal_error,
    tool_call_id,
    value_error,
)

EFFORTS = ("low", "medium", "high")


# -- the request -------------------------------------------------------------------------------


def check_body(body: Mapping[str, Any]) -> None:
    """``ChatCompletionRequest``'s pydantic checks and ``mode="before"`` validators.

    Field types (``messages`` required, ``reasoning_effort`` a literal) and the validators
    ``validate_response_format``, ``validate_stream_options`` and ``check_tool_usage``
    (vllm/entrypoints/openai/chat_completion/protocol.py, same text in both releases).
    """
    if "messages" not in body:
        raise invalid_body("Field required", loc=("body", "messages"), kind="missing")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise literal_error("reasoning_effort", EFFORTS, effort)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and not fmt.get("json_schema"):
        raise value_error(
            "When response_format type is 'json_schema', the 'json_schema' field must be provided.",
            param="response_format",
        )
    if body.get("stream_options") and not body.get("stream"):
        raise value_error(
            "Stream options can only be defined when `stream=True`.", param="stream_options"
        )
    _check_tool_usage(body)


def _check_tool_usage(body: Mapping[str, Any]) -> None:
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        return
    tools = body.get("tools")
    if tools is None:
        raise value_error("When using `tool_choice`, `tools` must be set.")
    if choice not in ("auto", "required") and not isinstance(choice, dict):
        raise value_error(
            f'Invalid value for `tool_choice`: {choice}! Only named tools, "none", "auto" '
            'or "required" are supported.'
        )
    if not isinstance(choice, dict):
        return
    usage = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'
    function = choice.get("function")
    if not isinstance(function, dict):
        raise value_error(f"Invalid value for `function`: `{function}` in `tool_choice`! {usage}")
    if "name" not in function:
        raise value_error(f"Expected field `name` in `function` in `tool_choice`! {usage}")
    name = function["name"]
    if not isinstance(name, str) or not name:
        raise value_error(f"Invalid `name` in `function`: `{name}` in `tool_choice`! {usage}")
    if not any((t.get("function") or {}).get("name") == name for t in tools):
        raise value_error(
            "The tool specified in `tool_choice` does not match any of the specified `tools`"
        )


def tool_choice_of(body: Mapping[str, Any]) -> str:
    """``auto``, ``none``, ``required`` or ``named`` (vLLM defaults to ``auto`` with tools)."""
    choice = body.get("tool_choice")
    if choice is None:
        return "auto" if body.get("tools") else "none"
    if isinstance(choice, dict):
        return "named"
    if choice == "required" and not body.get("tools"):
        return "none"  # check_tool_usage: "required" with an empty list behaves like "none"
    return str(choice)


# -- what the client sees ----------------------------------------------------------------------


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


# -- the whole response ------------------------------------------------------------------------


def usage(
    view: View,
    prompt_tokens: int,
    reply: Reply,
    *,
    chunk: bool = False,
    details: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``UsageInfo``: whole (every field) or in the last chunk (``exclude_none``). ``details`` is
    ``prompt_tokens_details`` (cached tokens, with ``--enable-prompt-tokens-details``); 0.32
    adds ``completion_tokens_details.reasoning_tokens`` when a reasoning parser is on."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + reply.completion_tokens,
        "completion_tokens": reply.completion_tokens,
    }
    d = view.dialect
    reasoning = (
        {"reasoning_tokens": len(reply.reasoning)} if d.newer and d.reasoning_parser else None
    )
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


def completion(
    view: View,
    reply: Reply,
    *,
    rid: str,
    model: str,
    created: int,
    prompt_tokens: int,
    details: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A whole ``chat.completion`` (``ChatCompletionResponse.model_dump()``)."""
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
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": view.finish_reason(reply),
        "stop_reason": View.stop_reason(reply),
        "token_ids": None,
    }
    if d.newer:
        choice["routed_experts"] = None
    body: dict[str, Any] = {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage(view, prompt_tokens, reply, details=details),
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


# -- the stream --------------------------------------------------------------------------------


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
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return self._chunk(choice, first=True)

    def group(self, count: int) -> dict[str, Any] | None:
        """The chunk for the next ``count`` generated tokens (None: nothing to send)."""
        pieces = self._shown[self._sent : self._sent + count]
        self._sent += count
        last = self._sent >= len(self._shown)
        delta = self._delta(pieces)
        if not delta and not last:
            return None
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
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

    def usage_chunk(self, details: dict[str, int] | None = None) -> dict[str, Any]:
        """``exclude_unset=True, exclude_none=True``: ``null`` fields left out."""
        return {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(self.view, self.prompt_tokens, self.reply, chunk=True, details=details),
        }
