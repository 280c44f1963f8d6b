"""A Responses turn in its Chat Completions form, for backends that serve only Chat."""

from __future__ import annotations

from typing import Any

from gptoss_router import codec
from gptoss_router.errors import BadRequest
from gptoss_router.openai.inbound import Inbound, inbound_of
from gptoss_router.openai.responses_to_chat import chat_request

__all__ = ["ChatForm"]


class ChatForm:
    """A turn through Chat Completions: its features at once (planning needs them), the
    translated request only when a backend needs it (most turns never do, and translating a
    long conversation costs as much as the rest of the turn)."""

    __slots__ = ("_stateless", "_wire", "features")

    def __init__(self, stateless: dict[str, Any], features: frozenset[str]) -> None:
        self._stateless = stateless
        self.features = features
        self._wire: tuple[Inbound, bytes] | bool | None = False

    @classmethod
    def of(cls, stateless: dict[str, Any]) -> ChatForm | None:
        """The chat form of ``stateless``, or None when it cannot be translated."""
        try:
            # The features do not depend on the messages: translate all but them.
            probe = chat_request({**stateless, "input": []})
        except BadRequest:
            return None
        return cls(stateless, inbound_of("chat", probe, 0).features)

    def get(self) -> tuple[Inbound, bytes] | None:
        """The translated request and its body (None: its input cannot be translated)."""
        if self._wire is False:
            try:
                payload = chat_request(self._stateless)
                body = codec.dumps(payload)
                self._wire = inbound_of("chat", payload, len(body)), body
            except BadRequest:
                self._wire = None
        return self._wire if isinstance(self._wire, tuple) else None
