"""Whole answers assembled from streams (pure).

The router asks its backends for a stream even when the client wants one JSON document, so that
it sees the first token within the first-byte timeout and can fail over from a backend that
hangs, or that breaks half way, before the client has seen anything (``proxy/gather.py``). These
assemblers turn the stream back into the document the backend would have answered:

- Chat Completions: ``chat.completion.chunk`` deltas per choice ``index``: ``content``,
  ``refusal``, the reasoning field the backend uses (``reasoning`` or ``reasoning_content``),
  ``tool_calls`` per call ``index`` (id, name, arguments in pieces), ``logprobs`` lists,
  ``finish_reason`` (and vLLM's ``stop_reason``); the last chunk's ``usage``
  (``stream_options.include_usage``).
- Completions: ``text`` and ``logprobs`` (tokens, token_logprobs, top_logprobs, text_offset)
  per choice, the same way.
- Responses: the ``response`` of the terminal event (``response.completed`` or
  ``.incomplete``), which is the whole response object; ``response.failed`` is a failure the
  router may retry elsewhere, as an error status would have been.

``can_gather`` keeps requests whose whole answer holds what no stream carries (vLLM's
``prompt_logprobs``, ``echo``, token ids) on a plain request.

What a stream generated so far, for a stream that ends without its usage, is counted by
``generated.Generated``. Sources: docs/sources.md, OpenAI API (chat streaming, completions) and
vLLM (entrypoints/openai chat_completion/serving.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

__all__ = ["Assembler", "StreamBroken", "can_gather", "failure_in"]

# Request members whose answer a stream cannot reproduce: the request is sent as it came.
_NOT_GATHERED = {
    "chat": frozenset(
        {"prompt_logprobs", "echo", "return_token_ids", "return_tokens_as_token_ids", "n"}
    ),
    "completions": frozenset(
        {
            "prompt_logprobs",
            "echo",
            "return_token_ids",
            "return_tokens_as_token_ids",
            "best_of",
            "n",
        }
    ),
    "responses": frozenset({"background"}),
}
_REASONING = ("reasoning", "reasoning_content")
_TERMINAL = frozenset({"response.completed", "response.incomplete"})


class StreamBroken(Exception):
    """The stream said it failed, or ended before its end; the message says how."""


def can_gather(route: str, payload: dict[str, Any]) -> bool:
    """Whether a whole answer to ``payload`` on ``route`` can be assembled from a stream."""
    refused = _NOT_GATHERED.get(route)
    if refused is None:
        return False
    present = refused & payload.keys()
    # n: 1 (or null) is the plain case; n > 1 is left to the backend's own document.
    return not present or (present == {"n"} and payload.get("n") in (None, 1))


@dataclass(slots=True)
class _Call:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class _Choice:
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    reasoning: dict[str, list[str]] = field(default_factory=dict)
    role: str = "assistant"
    calls: dict[int, _Call] = field(default_factory=dict)
    logprobs: dict[str, list[Any]] = field(default_factory=dict)
    has_logprobs: bool = False
    finish_reason: str | None = None
    stop_reason: Any = None
    has_content: bool = False


class Assembler:
    """Feed each event's parsed ``data``; ``document()`` is the whole answer."""

    def __init__(self, route: str) -> None:
        self.route = route
        self.done = False
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        self._response: dict[str, Any] | None = None

    def feed(self, data: Any) -> None:
        """One event's JSON ``data`` (``StreamBroken`` if it is an error)."""
        if not isinstance(data, dict):
            raise StreamBroken("the backend sent an event that is not a JSON object")
        if self.route == "responses":
            self._feed_response_event(data)
            return
        if "error" in data:
            _raise_if_failed(data)
        for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if name in data and name not in self._head:
                self._head[name] = data[name]
        if data.get("usage") is not None:
            self._usage = data["usage"]
        for delta in data.get("choices") or ():
            if isinstance(delta, dict):
                self._feed_choice(delta)

    def finish(self) -> None:
        """The stream's ``[DONE]`` arrived (chat and completions)."""
        self.done = True

    def document(self) -> dict[str, Any]:
        """The whole answer (``StreamBroken`` when the stream never reached its end)."""
        if self.route == "responses":
            if self._response is None:
                raise StreamBroken("the stream ended before the response was complete")
            return self._response
        if not self.done:
            raise StreamBroken("the stream ended before [DONE]")
        choices = [self._choice_doc(n, c) for n, c in sorted(self._choices.items())]
        kind = "chat.completion" if self.route == "chat" else "text_completion"
        doc: dict[str, Any] = {**self._head, "object": kind, "choices": choices}
        if self._usage is not None:
            doc["usage"] = self._usage
        return doc

    @property
    def measured(self) -> bool:
        """Whether the stream ended with the backend's own usage: nothing to estimate."""
        if self.route == "responses":
            return self._response is not None and self._response.get("usage") is not None
        return self.done and self._usage is not None

    def generated(self) -> tuple[int, int]:
        """The pieces of generated text gathered so far (content, refusal, reasoning, each
        tool call's arguments; completions text), and their bytes in UTF-8."""
        pieces = [piece for choice in self._choices.values() for piece in _texts(choice) if piece]
        return len(pieces), sum(len(piece.encode()) for piece in pieces)

    def _feed_response_event(self, data: dict[str, Any]) -> None:
        _raise_if_failed(data)
        kind = data.get("type")
        if isinstance(kind, str) and kind in _TERMINAL and isinstance(data.get("response"), dict):
            self._response = data["response"]
            self.done = True

    def _feed_choice(self, delta: dict[str, Any]) -> None:
        index = delta.get("index", 0)
        choice = self._choices.setdefault(index if isinstance(index, int) else 0, _Choice())
        if delta.get("finish_reason") is not None:
            choice.finish_reason = delta["finish_reason"]
        if delta.get("stop_reason") is not None:
            choice.stop_reason = delta["stop_reason"]
        _gather_logprobs(choice, delta.get("logprobs"))
        if self.route == "completions":
            if isinstance(delta.get("text"), str):
                choice.text.append(delta["text"])
            return
        message = delta.get("delta")
        if isinstance(message, dict):
            _gather_message(choice, message)

    def _choice_doc(self, index: int, choice: _Choice) -> dict[str, Any]:
        doc: dict[str, Any] = {"index": index}
        if self.route == "completions":
            doc["text"] = "".join(choice.text)
        else:
            message: dict[str, Any] = {
                "role": choice.role,
                # Streams open with an empty content delta; a whole answer that is only tool
                # calls has none (vLLM's and OpenAI's non-streamed messages alike).
                "content": "".join(choice.text) if choice.has_content or not choice.calls else None,
                "refusal": "".join(choice.refusal) if choice.refusal else None,
            }
            for name, parts in choice.reasoning.items():
                message[name] = "".join(parts)
            if choice.calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": call.type,
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for _, call in sorted(choice.calls.items())
                ]
            doc["message"] = message
        doc["logprobs"] = dict(choice.logprobs) if choice.has_logprobs else None
        doc["finish_reason"] = choice.finish_reason
        if choice.stop_reason is not None:
            doc["stop_reason"] = choice.stop_reason
        return doc


def _texts(choice: _Choice) -> list[str]:
    calls = [call.arguments for call in choice.calls.values()]
    return [*choice.text, *choice.refusal, *chain.from_iterable(choice.reasoning.values()), *calls]


def _gather_message(choice: _Choice, message: dict[str, Any]) -> None:
    if isinstance(message.get("role"), str):
        choice.role = message["role"]
    if isinstance(message.get("content"), str) and message["content"]:
        choice.text.append(message["content"])
        choice.has_content = True
    if isinstance(message.get("refusal"), str):
        choice.refusal.append(message["refusal"])
    for name in _REASONING:
        if isinstance(message.get(name), str):
            choice.reasoning.setdefault(name, []).append(message[name])
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            _gather_call(choice, call)


def _gather_call(choice: _Choice, call: dict[str, Any]) -> None:
    index = call.get("index", len(choice.calls))
    kept = choice.calls.setdefault(index if isinstance(index, int) else 0, _Call())
    if isinstance(call.get("id"), str) and kept.id is None:
        kept.id = call["id"]
    if isinstance(call.get("type"), str):
        kept.type = call["type"]
    function = call.get("function")
    if isinstance(function, dict):
        if isinstance(function.get("name"), str):
            kept.name += function["name"]
        if isinstance(function.get("arguments"), str):
            kept.arguments += function["arguments"]


def _gather_logprobs(choice: _Choice, logprobs: Any) -> None:
    if not isinstance(logprobs, dict):
        return
    choice.has_logprobs = True
    for name, value in logprobs.items():
        kept = choice.logprobs.get(name)
        if isinstance(kept, list) and isinstance(value, list):
            kept.extend(value)
        elif isinstance(value, list):  # an earlier chunk with no tokens may have said null
            choice.logprobs[name] = list(value)
        elif name not in choice.logprobs:
            choice.logprobs[name] = value


def failure_in(data: Any) -> str | None:
    """What went wrong, when ``data`` (one event's parsed data) says its stream failed: the
    ``{"error": …}`` event vLLM's chat and completions generators yield when the engine fails
    (``chat_completion_stream_generator``: ``create_streaming_error_response``, then
    ``[DONE]``), a Responses ``error`` event or ``response.failed``. None for any other
    event."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind is None and "error" in data and "choices" not in data:
        return _error_message(data["error"])
    if kind == "error":
        return _error_message(data.get("error") or data)
    if kind == "response.failed":
        response = data.get("response")
        error = response.get("error") if isinstance(response, dict) else None
        return _error_message(error, "the response failed")
    return None


def _raise_if_failed(data: dict[str, Any]) -> None:
    failure = failure_in(data)
    if failure is not None:
        raise StreamBroken(f"the backend failed mid-stream: {failure}")


def _error_message(error: Any, otherwise: str = "no message") -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message[:200] if isinstance(message, str) else otherwise
