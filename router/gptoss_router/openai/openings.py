"""Where a stream's answer begins: the first event that carries generated output, after the
events that only open the stream (pure).

Many backends open a stream before they generate anything. A Chat Completions stream may start
with a chunk that only names the role (``{"delta": {"role": "assistant", "content": ""}}``);
vLLM sends it with the engine's first output (``serving_chat.py``, ``first_iteration``), but
gateways and hosted platforms often send it as soon as they accept the request, and keepalive
comments the same way. A Responses stream starts with ``response.created`` and
``response.in_progress`` before any output item (OpenAI's streaming events; vLLM's
``serving_responses.py`` sends both before the engine's first output). A router that took such
an opening for the answer would time its time to first token on a frame that carries no token
(sglang's router moved its TTFT to the first content chunk for this reason: sgl-project/sglang
#29251), and would commit to a backend that had not yet generated anything, so that a backend
failing after its opening could no longer be left for another.

So the request path reads a stream up to its first *output* event (any event other than an
opening: content, reasoning, a tool call, a finish, usage, an error or ``[DONE]``) before it
commits (``proxy/attempt.py``), and times its first token there.
"""

from __future__ import annotations

from typing import Any

from gptoss_router import codec
from gptoss_router.openai.sse import event_data

__all__ = ["is_opening"]

_RESPONSES_OPENINGS = frozenset({"response.created", "response.in_progress", "response.queued"})
_EMPTY: tuple[object, ...] = (None, "", [])


def is_opening(event: bytes) -> bool:
    """Whether ``event`` only opens its stream: a comment, a role-only chat chunk, or a
    Responses ``response.created``/``in_progress``/``queued``. An event that cannot be read is
    not an opening (whoever reads it next decides what it is)."""
    data = event_data(event)
    if data is None:
        return True  # a comment (": keepalive") or a field without data
    if data == b"[DONE]" or (b"role" not in data and b"response." not in data):
        return False
    try:
        parsed = codec.loads(data)
    except (ValueError, RecursionError):
        return False
    if not isinstance(parsed, dict):
        return False
    kind = parsed.get("type")
    if isinstance(kind, str):
        return kind in _RESPONSES_OPENINGS
    return _role_only(parsed)


def _role_only(chunk: dict[str, Any]) -> bool:
    """A chat chunk whose every choice names its role and nothing else (empty content, no
    finish, no logprobs), with no usage and no error."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or chunk.get("usage") or "error" in chunk:
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict) or choice.get("logprobs"):
            return False
        if any(key != "role" and value not in _EMPTY for key, value in delta.items()):
            return False
    return True
