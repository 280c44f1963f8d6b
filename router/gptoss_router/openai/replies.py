"""Rewrite a backend's answer into what the client asked for (pure).

- the model id goes back to the name the client used;
- ``reasoning_content`` (Fireworks, older vLLM) becomes ``reasoning``, the field vLLM, Together,
  Groq and OpenRouter use and OpenAI's gpt-oss guidance names (docs/sources.md, OpenAI API);
- for apps that must not see chain-of-thought, reasoning fields, items and events are removed,
  with the logprobs of reasoning tokens, and the analysis channel that ``/v1/completions`` text
  carries when gpt-oss reasons on a raw prompt (``ReasoningText``);
- usage is read out for accounting; a usage-only chunk the client did not ask for is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_router.openai.inbound import Route

__all__ = ["ReasoningText", "Reshape", "Usage", "reshape_chunk", "reshape_document", "usage_of"]

_REASONING_KEYS = ("reasoning", "reasoning_content", "reasoning_details")
_REASONING_PARTS = ("reasoning_text", "summary_text")
# gpt-oss text on /v1/completions: harmony decoded with its special tokens skipped (vLLM's
# default) reads "analysis…assistantfinal…"; kept, "<|channel|>analysis<|message|>…
# <|start|>assistant<|channel|>final<|message|>…". The answer (or a tool call, on the
# commentary channel) starts after the first mark.
_ANALYSIS_HEADS = ("analysis", "<|channel|>analysis", "<|start|>assistant<|channel|>analysis")
_ANSWER_MARKS = (
    "<|channel|>final<|message|>",
    "<|channel|>commentary",
    "assistantfinal",
    "assistantcommentary",
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one request consumed."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Reshape:
    """What to change in one backend's answer for one client."""

    route: Route
    model: str
    backend_model: str
    reasoning_out: str
    strip_reasoning: bool
    keep_usage_chunk: bool

    @property
    def touches_documents(self) -> bool:
        """Whether any JSON document needs rewriting (else bytes pass through)."""
        return (
            self.model != self.backend_model
            or self.reasoning_out != "reasoning"
            or self.strip_reasoning
        )


def reshape_document(doc: dict[str, Any], how: Reshape) -> dict[str, Any]:
    """Rewrite a whole (non-streamed) response in place and return it."""
    if how.route == "responses":
        _reshape_response_object(doc, how)
        return doc
    _rename_model(doc, how)
    texts = ReasoningText() if how.strip_reasoning and how.route == "completions" else None
    for choice in doc.get("choices") or ():
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            _reasoning(choice, choice["message"], how)
        elif isinstance(choice, dict) and texts is not None:
            texts.choice(choice, last=True)
    return doc


def reshape_chunk(
    doc: dict[str, Any], how: Reshape, texts: ReasoningText | None = None
) -> dict[str, Any] | None:
    """Rewrite one streamed chunk or event; None means drop it. ``texts`` follows a
    completions stream's text for an app that must not see reasoning."""
    if how.route == "responses":
        kind = str(doc.get("type", ""))
        if how.strip_reasoning and _is_reasoning_event(doc, kind):
            return None
        if isinstance(doc.get("response"), dict):
            _reshape_response_object(doc["response"], how)
        return doc
    if not doc.get("choices") and doc.get("usage") and not how.keep_usage_chunk:
        return None
    _rename_model(doc, how)
    for choice in doc.get("choices") or ():
        if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
            _reasoning(choice, choice["delta"], how)
        elif isinstance(choice, dict) and texts is not None:
            texts.choice(choice, last=choice.get("finish_reason") is not None)
    return doc


class _Text:
    """One completions choice's text: ``head`` until it shows whether it opens on the analysis
    channel, then ``reasoning`` (held back) until the answer's mark, then ``pass``."""

    __slots__ = ("held", "logprobs", "state")

    def __init__(self) -> None:
        self.state = "head"
        self.held = ""
        self.logprobs: list[dict[str, Any]] = []

    def feed(self, text: str, logprobs: object, last: bool) -> tuple[str, object]:
        if self.state == "pass":
            return text, logprobs
        self.held += text
        if self.state == "head":
            if isinstance(logprobs, dict):
                self.logprobs.append(logprobs)
            start = self.held.lstrip()
            if any(start.startswith(head) for head in _ANALYSIS_HEADS):
                self.state, self.logprobs = "reasoning", []
            elif last or not any(head.startswith(start) for head in _ANALYSIS_HEADS):
                self.state = "pass"
                shown, self.held = self.held, ""
                merged = _merge_logprobs(self.logprobs) if self.logprobs else logprobs
                self.logprobs = []
                return shown, merged
            else:
                return "", None
        found = [(self.held.find(m), m) for m in _ANSWER_MARKS if m in self.held]
        if not found:
            # Keep only what may be the start of a mark; the rest is reasoning, never shown.
            self.held = self.held[-max(len(m) for m in _ANSWER_MARKS) :]
            return "", None
        at, mark = min(found)
        shown = self.held[at + len(mark) :]
        self.state, self.held = "pass", ""
        return shown, _logprobs_tail(logprobs, len(shown), key=None)


class ReasoningText:
    """Strips the analysis channel from the text of a completions answer, choice by choice,
    with the logprobs of its tokens. Streams are held back only while it is undecided: the
    few characters of a head that may open the channel, and the channel itself."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[int, _Text] = {}

    def choice(self, choice: dict[str, Any], *, last: bool) -> None:
        """Rewrite one choice (of a chunk, or whole when ``last``) in place."""
        text = choice.get("text")
        if not isinstance(text, str):
            return
        index = choice.get("index")
        state = self._texts.setdefault(index if isinstance(index, int) else 0, _Text())
        choice["text"], logprobs = state.feed(text, choice.get("logprobs"), last)
        if "logprobs" in choice:
            choice["logprobs"] = logprobs


def _merge_logprobs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged.setdefault(key, value)
    return merged


def _logprobs_tail(logprobs: object, length: int, *, key: str | None) -> object:
    """The entries of ``logprobs`` for the last ``length`` characters of their text: the
    chat form (``key`` "content", entries with ``token``) or the completions form (``key``
    None, parallel lists beside ``tokens``). Entries that straddle the cut are left out."""
    if not isinstance(logprobs, dict):
        return logprobs
    tokens = logprobs.get(key) if key else logprobs.get("tokens")
    if not isinstance(tokens, list):
        return None
    keep, total = 0, 0
    for entry in reversed(tokens):
        token = entry.get("token") if isinstance(entry, dict) and key else entry
        total += len(token) if isinstance(token, str) else 0
        if total > length:
            break
        keep += 1
    if key:
        return {**logprobs, key: tokens[len(tokens) - keep :]}
    return {
        k: v[len(v) - keep :] if isinstance(v, list) and len(v) == len(tokens) else v
        for k, v in logprobs.items()
    }


def usage_of(doc: dict[str, Any]) -> Usage | None:
    """Usage from a chat/completions document or chunk, or a Responses object or event."""
    inner = doc.get("response")
    usage = (inner if isinstance(inner, dict) else doc).get("usage")
    if not isinstance(usage, dict):
        return None
    ins = usage.get("prompt_tokens", usage.get("input_tokens"))
    outs = usage.get("completion_tokens", usage.get("output_tokens"))
    if not isinstance(ins, int) or not isinstance(outs, int):
        return None
    return Usage(input_tokens=ins, output_tokens=outs)


def _rename_model(doc: dict[str, Any], how: Reshape) -> None:
    if "model" in doc and how.model != how.backend_model:
        doc["model"] = how.model


def _reasoning(choice: dict[str, Any], message: dict[str, Any], how: Reshape) -> None:
    if how.strip_reasoning:
        reasoned = any(message.get(key) for key in _REASONING_KEYS)
        for key in _REASONING_KEYS:
            message.pop(key, None)
        if reasoned and isinstance(choice.get("logprobs"), dict):
            # vLLM gives every generated token's logprob, the reasoning's first: only the
            # answer's tail is the client's.
            content = message.get("content")
            length = len(content) if isinstance(content, str) else 0
            choice["logprobs"] = _logprobs_tail(choice["logprobs"], length, key="content")
    elif "reasoning_content" in message:
        value = message.pop("reasoning_content")
        if message.get("reasoning") is None:
            message["reasoning"] = value


def _reshape_response_object(obj: dict[str, Any], how: Reshape) -> None:
    _rename_model(obj, how)
    if how.strip_reasoning and isinstance(obj.get("output"), list):
        obj["output"] = [
            item
            for item in obj["output"]
            if not (isinstance(item, dict) and item.get("type") == "reasoning")
        ]
        obj.pop("reasoning_text", None)


def _is_reasoning_event(doc: dict[str, Any], kind: str) -> bool:
    if kind.startswith("response.reasoning"):
        return True
    item, part = doc.get("item"), doc.get("part")
    part_type = part.get("type") if isinstance(part, dict) else None
    if isinstance(part_type, str) and part_type in _REASONING_PARTS:
        return True  # response.content_part.added/done of a reasoning item: its whole text
    return isinstance(item, dict) and item.get("type") == "reasoning"
