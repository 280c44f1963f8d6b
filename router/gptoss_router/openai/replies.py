"""Rewrite a backend's answer into what the client asked for (pure).

- the model id goes back to the name the client used;
- ``reasoning_content`` (Fireworks, older vLLM) becomes ``reasoning``, the field vLLM, Together,
  Groq and OpenRouter use and OpenAI's gpt-oss guidance names (docs/sources.md, OpenAI API);
- for apps that must not see chain-of-thought, reasoning fields, items and events are removed;
- usage is read out for accounting; a usage-only chunk the client did not ask for is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptoss_router.openai.inbound import Route

__all__ = ["Reshape", "Usage", "reshape_chunk", "reshape_document", "usage_of"]

_REASONING_KEYS = ("reasoning", "reasoning_content", "reasoning_details")


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
    for choice in doc.get("choices") or ():
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            _reasoning(choice["message"], how)
    return doc


def reshape_chunk(doc: dict[str, Any], how: Reshape) -> dict[str, Any] | None:
    """Rewrite one streamed chunk or event; None means drop it."""
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
            _reasoning(choice["delta"], how)
    return doc


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


def _reasoning(message: dict[str, Any], how: Reshape) -> None:
    if how.strip_reasoning:
        for key in _REASONING_KEYS:
            message.pop(key, None)
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
    item = doc.get("item")
    return isinstance(item, dict) and item.get("type") == "reasoning"
