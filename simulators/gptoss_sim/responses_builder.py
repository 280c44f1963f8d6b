"""The hosted providers' ``/v1/responses`` answer: the response object and its stream events.

The output is a ``reasoning`` item, then a ``message`` or ``function_call`` item. Stream events
follow the ``ResponseStreamEvent`` union of openai/openai-openapi @f85dbe2 (docs/sources.md,
OpenAI API). vLLM's own shapes are ``gptoss_sim.vllm_responses``.
"""

from __future__ import annotations

import uuid
from typing import Any

from gptoss_sim.reply import Channel, Reply
from gptoss_sim.responses_api import ResponsesRequest


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def response_usage(prompt_tokens: int, reply: Reply) -> dict[str, Any]:
    """Token usage as OpenAI reports it (vLLM's is ``gptoss_sim.vllm_responses.usage``)."""
    inp, out, rea = prompt_tokens, reply.completion_tokens, len(reply.reasoning)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": rea},
        "total_tokens": inp + out,
    }


class ResponseBuilder:
    """Builds one response: the whole object, or its stream of events."""

    def __init__(self, request: ResponsesRequest, reply: Reply, created: int, model: str) -> None:
        self.request = request
        self.reply = reply
        self.created = created
        self.model = model
        self.id = _id("resp")
        self._ids = {"reasoning": _id("rs"), "content": _id("msg"), "tool": _id("fc")}
        self.call_id = f"call_{uuid.uuid4().hex[:24]}"
        self._seq = 0
        self._open: list[Channel] = []
        self._text: dict[Channel, str] = {"reasoning": "", "content": "", "tool": ""}

    def usage(self) -> dict[str, Any]:
        return response_usage(self.request.prompt_tokens, self.reply)

    def _item(self, channel: Channel, text: str, *, done: bool) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        if channel == "reasoning":
            content = [{"type": "reasoning_text", "text": text}] if done else []
            return {
                "type": "reasoning",
                "id": self._ids[channel],
                "summary": [],
                "content": content,
            }
        if channel == "tool":
            assert self.reply.tool_call is not None
            return {
                "type": "function_call",
                "id": self._ids[channel],
                "call_id": self.call_id,
                "name": self.reply.tool_call.name,
                "arguments": text,
                "status": status,
            }
        parts = [{"type": "output_text", "text": text, "annotations": []}] if done else []
        return {
            "type": "message",
            "id": self._ids[channel],
            "role": "assistant",
            "status": status,
            "content": parts,
        }

    def whole(self, *, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        texts: dict[Channel, str] = {}
        for channel, text in self.reply.pieces():
            texts[channel] = texts.get(channel, "") + text
        done = status != "in_progress"
        output = [self._item(c, t, done=True) for c, t in texts.items()] if done else []
        incomplete = (
            {"reason": "max_output_tokens"} if self.reply.finish_reason == "length" else None
        )
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "model": self.model,
            "status": "incomplete" if incomplete and status == "completed" else status,
            "output": output,
            "error": None,
            "incomplete_details": incomplete if status == "completed" else None,
            "instructions": self.request.body.get("instructions"),
            "metadata": {},
            "parallel_tool_calls": True,
            "tool_choice": self.request.body.get("tool_choice", "auto"),
            "tools": self.request.body.get("tools") or [],
            "previous_response_id": self.request.previous_response_id,
            "usage": usage,
        }

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        self._seq += 1
        return {"type": kind, "sequence_number": self._seq, **fields}

    def opening(self) -> list[dict[str, Any]]:
        head = self.whole(status="in_progress", usage=None)
        return [
            self._event("response.created", response=head),
            self._event("response.in_progress", response=head),
        ]

    def _close_current(self) -> list[dict[str, Any]]:
        if not self._open:
            return []
        channel, index = self._open[-1], len(self._open) - 1
        item_id, text = self._ids[channel], self._text[channel]
        events: list[dict[str, Any]] = []
        if channel == "reasoning":
            events.append(
                self._event(
                    "response.reasoning_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                )
            )
        elif channel == "tool":
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    arguments=text,
                )
            )
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
            events.append(
                self._event(
                    "response.output_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            )
            events.append(
                self._event(
                    "response.content_part.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
        events.append(
            self._event(
                "response.output_item.done",
                output_index=index,
                item=self._item(channel, text, done=True),
            )
        )
        return events

    def deltas(self, pieces: list[tuple[Channel, str]]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for channel, text in pieces:
            if not self._open or self._open[-1] != channel:
                events += self._close_current()
                self._open.append(channel)
                index = len(self._open) - 1
                events.append(
                    self._event(
                        "response.output_item.added",
                        output_index=index,
                        item=self._item(channel, "", done=False),
                    )
                )
                if channel == "content":
                    part = {"type": "output_text", "text": "", "annotations": []}
                    events.append(
                        self._event(
                            "response.content_part.added",
                            item_id=self._ids[channel],
                            output_index=index,
                            content_index=0,
                            part=part,
                        )
                    )
            index = len(self._open) - 1
            self._text[channel] += text
            item_id = self._ids[channel]
            if channel == "reasoning":
                events.append(
                    self._event(
                        "response.reasoning_text.delta",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        delta=text,
                    )
                )
            elif channel == "tool":
                events.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=index,
                        delta=text,
                    )
                )
            else:
                events.append(
                    self._event(
                        "response.output_text.delta",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        delta=text,
                        logprobs=[],
                    )
                )
        return events

    def closing(self, usage: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._close_current()
        final = self.whole(status="completed", usage=usage)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return [*events, self._event(kind, response=final)]
