"""Translate a streamed Chat Completions reply into Responses API stream events (pure).

Feed each ``chat.completion.chunk`` (parsed) to ``ChatStreamTranslator.feed`` and send what it
returns; call ``finish`` after ``data: [DONE]``, or ``fail`` when the upstream breaks off.
Events follow https://platform.openai.com/docs/api-reference/responses-streaming, numbered by
``sequence_number`` from 0, in the order OpenAI's gpt-oss reference server emits them
(https://github.com/openai/gpt-oss/blob/main/gpt_oss/responses_api/api_server.py):

    response.created, response.in_progress
    reasoning:  output_item.added, content_part.added, reasoning_text.delta…,
                reasoning_text.done, content_part.done, output_item.done
    text:       output_item.added, content_part.added, output_text.delta…,
                output_text.done, content_part.done, output_item.done
    tool call:  output_item.added, function_call_arguments.delta…,
                function_call_arguments.done, output_item.done
    response.completed | response.incomplete (finish_reason length or content_filter)
    on failure: error, response.failed

A new kind of output closes the items still open; tool calls stay open side by side (parallel
calls may interleave by ``index``) until something else starts or the choice finishes. A tool
call whose first delta lacks its name is held back until the name arrives. Each chunk costs
work in proportion to its own size: text is kept as a list of pieces and joined once, when its
item closes, and the whole response object is only built at the start and at the end. The
events themselves (numbering, item and part events, SSE) are written by ``responses_events``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptoss_router.openai.responses_events import EventLog, StreamItem, where
from gptoss_router.openai.responses_objects import (
    ItemStatus,
    chat_reasoning,
    function_call_item,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    reasoning_text_part,
    response_id_for,
    response_object,
    status_for,
    usage_from_chat,
)

__all__ = ["ChatStreamTranslator"]


class ChatStreamTranslator:
    """Turns one chat completion stream into one Responses event stream."""

    def __init__(
        self,
        echo: Mapping[str, Any],
        *,
        response_id: str | None = None,
        created_at: int | None = None,
    ) -> None:
        """``echo`` is ``response_echo(request)``; ids default to ones derived from the chat's."""
        self._echo = echo
        self._response_id = response_id
        self._created_at = created_at
        self._log = EventLog()
        self._started = False
        self._terminal = False
        self._reasoning: StreamItem | None = None
        self._message: StreamItem | None = None
        self._calls: dict[int, StreamItem] = {}  # open tool calls by the chat delta's index
        self._output: dict[int, dict[str, Any]] = {}  # finished items by output index
        self._next_index = 0
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    @property
    def usage(self) -> dict[str, Any] | None:
        """The usage seen so far, as Responses usage."""
        return self._usage

    @property
    def finished(self) -> bool:
        """Whether a terminal event (completed, incomplete or failed) has been produced."""
        return self._terminal

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The events ``chunk`` (one parsed ``chat.completion.chunk``) produces."""
        if self._terminal:
            return []
        error = chunk.get("error")
        if isinstance(error, dict):  # an in-band error object (OpenRouter and others)
            return self.fail(str(error.get("message") or "The upstream reported an error."))
        events = self._log.begin()
        self._start(chunk)
        usage = usage_from_chat(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(choice, dict) and self._finish_reason is None:
            self._choice(choice)
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events once the upstream stream has ended normally."""
        if self._terminal:
            return []
        events = self._log.begin()
        self._start({})
        status, reason = status_for(self._finish_reason)
        self._close_open(status)
        response = self._response(status, incomplete_reason=reason)
        self._log.emit(f"response.{status}", response=response)
        self._terminal = True
        return events

    def fail(self, message: str) -> list[dict[str, Any]]:
        """The events that end the stream after an upstream failure: ``error``, then
        ``response.failed`` with what was produced so far (open items marked incomplete)."""
        if self._terminal:
            return []
        events = self._log.begin()
        self._start({})
        self._close_open("incomplete", every="incomplete")
        self._log.emit("error", code="upstream_error", message=message, param=None)
        error = {"code": "server_error", "message": message}
        self._log.emit("response.failed", response=self._response("failed", error=error))
        self._terminal = True
        return events

    def _choice(self, choice: Mapping[str, Any]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = chat_reasoning(delta)
            if reasoning:
                self._reasoning_delta(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text_delta(content)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    self._call_delta(call)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._finish_reason = reason
            self._close_open(status_for(reason)[0])

    def _start(self, chunk: Mapping[str, Any]) -> None:
        if self._started:
            return
        self._started = True
        if self._response_id is None:
            self._response_id = response_id_for(chunk.get("id"))
        if self._created_at is None:
            created = chunk.get("created")
            self._created_at = created if isinstance(created, int) else 0
        response = self._response("in_progress", output=False)
        self._log.emit("response.created", response=response)
        self._log.emit("response.in_progress", response=response)

    def _reasoning_delta(self, text: str) -> None:
        item = self._reasoning
        if item is None:
            self._close_open("completed")
            item = self._reasoning = self._add(StreamItem("reasoning"), "rs")
            self._log.added(reasoning_item(item.id, [], "in_progress"), item)
            self._log.part("response.content_part.added", item, reasoning_text_part(""))
        item.pieces.append(text)
        self._log.emit("response.reasoning_text.delta", **where(item), delta=text)

    def _text_delta(self, text: str) -> None:
        item = self._message
        if item is None:
            self._close_open("completed")
            item = self._message = self._add(StreamItem("message"), "msg")
            self._log.added(message_item(item.id, [], "in_progress"), item)
            self._log.part("response.content_part.added", item, output_text_part(""))
        item.pieces.append(text)
        self._log.emit("response.output_text.delta", **where(item), delta=text, logprobs=[])

    def _call_delta(self, call: Mapping[str, Any]) -> None:
        index = call.get("index")
        index = index if isinstance(index, int) else 0
        item = self._calls.get(index)
        if item is None:
            self._close_open("completed", calls=False)
            item = self._calls[index] = StreamItem("function_call")
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id, name, arguments = call.get("id"), function.get("name"), function.get("arguments")
        if isinstance(call_id, str) and not item.call_id:
            item.call_id = call_id
        if isinstance(name, str) and not item.name:
            item.name = name
        if isinstance(arguments, str) and arguments:
            item.pieces.append(arguments)
            if item.output_index >= 0:
                self._log.emit(
                    "response.function_call_arguments.delta", **where(item), delta=arguments
                )
        if item.output_index < 0 and item.name:
            self._add_call(item)

    def _add_call(self, item: StreamItem) -> None:
        self._add(item, "fc")
        item.call_id = item.call_id or item_id("call", self._rid, item.output_index)
        added = function_call_item(
            item.id, call_id=item.call_id, name=item.name, arguments="", status="in_progress"
        )
        self._log.added(added, item)
        if item.pieces:  # arguments that came before the name
            delta = "".join(item.pieces)
            self._log.emit("response.function_call_arguments.delta", **where(item), delta=delta)

    def _close_open(
        self, last: ItemStatus, *, every: ItemStatus = "completed", calls: bool = True
    ) -> None:
        """Close the open items in output order; the last one gets status ``last``."""
        items = [self._reasoning, self._message, *(self._calls.values() if calls else ())]
        for item in self._calls.values() if calls else ():
            if item.output_index < 0:  # never named: add it now, with what it has
                self._add_call(item)
        open_items = sorted((i for i in items if i is not None), key=lambda i: i.output_index)
        for position, item in enumerate(open_items):
            status = last if position == len(open_items) - 1 else every
            self._output[item.output_index] = self._log.close(item, status)
        self._reasoning = self._message = None
        if calls:
            self._calls = {}

    @property
    def _rid(self) -> str:
        assert self._response_id is not None  # set by _start
        return self._response_id

    def _add(self, item: StreamItem, prefix: str) -> StreamItem:
        item.output_index = self._next_index
        item.id = item_id(prefix, self._rid, item.output_index)
        self._next_index += 1
        return item

    def _response(self, status: str, *, output: bool = True, **extra: Any) -> dict[str, Any]:
        return response_object(
            self._echo,
            response_id=self._rid,
            created_at=self._created_at or 0,
            status=status,
            output=[self._output[i] for i in sorted(self._output)] if output else [],
            usage=self._usage if output else None,
            **extra,
        )
