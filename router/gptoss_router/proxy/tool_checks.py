"""Check the tool calls of one answer as it passes, and count them against its backend.

Each call gets a verdict (``openai/tool_calls``) counted in ``gptoss_router_tool_calls`` and in
the backend's validity window (``state/tool_quality``); a backend gated by it is logged once.
The functions' schemas are compiled only when an answer actually makes a call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gptoss_router.openai.inbound import Inbound
from gptoss_router.openai.tool_calls import StreamCalls, ToolCall, Tools, calls_in_document
from gptoss_router.proxy.accounting import Shared
from gptoss_router.routing.backends import Target

__all__ = ["ToolCheck"]

log = logging.getLogger(__name__)


class ToolCheck:
    """Checks the calls in one answer from ``target`` to a request that offered tools."""

    __slots__ = ("_inbound", "_shared", "_stream", "_target", "_tools")

    def __init__(self, shared: Shared, inbound: Inbound, target: Target) -> None:
        self._shared = shared
        self._inbound = inbound
        self._target = target
        self._tools: Tools | None = None
        self._stream = StreamCalls(inbound.route)

    @classmethod
    def of(cls, shared: Shared, inbound: Inbound, target: Target) -> ToolCheck | None:
        """A check for an answer to ``inbound``; None when it offered no tools."""
        if "tools" not in inbound.features or inbound.route == "completions":
            return None
        return cls(shared, inbound, target)

    def document(self, doc: Mapping[str, Any]) -> None:
        """A whole answer (Chat Completions document or Responses object)."""
        for call in calls_in_document(self._inbound.route, doc):
            self._check(call)

    def chunk(self, doc: Mapping[str, Any]) -> None:
        """One parsed stream chunk or event; checks the calls it completes."""
        for call in self._stream.feed(doc):
            self._check(call)

    def finish(self) -> None:
        """The stream ended whole: the calls it was still gathering are complete."""
        for call in self._stream.finish():
            self._check(call)

    def _check(self, call: ToolCall) -> None:
        if self._tools is None:
            self._tools = Tools.of(self._inbound.route, self._inbound.payload) or Tools({})
        verdict = self._tools.check(call)
        valid = verdict == "valid"
        target, model = self._target, self._inbound.model
        self._shared.metrics.tool_calls.labels(target.label, "true" if valid else "false").inc()
        gating = self._shared.backends.tool_quality.record(target.key, model, valid)
        if gating is not None:
            log.warning(
                "backend %s gated off tool requests for %s for %.0f s: %s (last: %s, %s)",
                target.key,
                model,
                gating.seconds,
                gating.reason,
                call.name or "<no name>",
                verdict,
            )
