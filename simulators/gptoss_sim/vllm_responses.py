"""``/v1/responses`` as vLLM serves it for gpt-oss: the body it checks, the response object, its
usage and its stream of events.

Followed from vLLM 0.17.0 ``vllm/entrypoints/openai/responses/{protocol,serving,harmony,
context,streaming_events}.py`` (0.32.0 where noted):

* The response is ``ResponsesResponse.from_request(...).model_dump()``: every field, with the
  request's ``reasoning``/``text``/``tools`` echoed as openai's types dump them (so a JSON
  schema format comes back under ``schema_``), no ``error`` and no ``store`` field, status
  ``incomplete`` with ``incomplete_details.reason = "max_output_tokens"`` when cut short.
* Usage is counted (``HarmonyContext``): input, cached and output tokens, reasoning tokens
  (the analysis channel and tool-call arguments), per-turn lists.
* Streams: ``response.created`` and ``response.in_progress`` (sequence numbers from 0), then
  per output item ``output_item.added``, its part and deltas, its ``.done`` events and
  ``output_item.done``, then ``response.completed`` even when the response is incomplete. In
  0.17 the reasoning item streams with ``reasoning_part.added``/``.done`` under an ``msg_`` id
  and the content index keeps counting across items; 0.32 uses ``content_part`` events, an
  ``rs_`` id and restarts the index per item. A function call streams
  ``function_call_arguments.delta``/``.done``. Streamed items have other ids than the final
  response's (the final output is rebuilt from the parsed messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gptoss_sim import vllm_response_items as shapes
from gptoss_sim.reply import Channel, Reply
from gptoss_sim.responses_api import ResponsesRequest
from gptoss_sim.vllm_protocol import Dialect, random_uuid


@dataclass
class VllmResponseBuilder:
    """One response: the whole object, or its stream of events."""

    dialect: Dialect
    request: ResponsesRequest
    reply: Reply
    created: int
    model: str
    max_output_tokens: int
    cached_tokens: Any = None  # a callable giving the prompt tokens found in the prefix cache
    status_override: str | None = None
    id: str = field(default_factory=lambda: f"resp_{random_uuid()}")
    _seq: int = 0
    _index: int = 0
    _content_index: int = -1
    _open: Channel | None = None
    _item_id: str = ""
    _call_id: str = ""
    _text: str = ""

    # -- the whole response

    def usage(self) -> dict[str, Any]:
        cached = int(self.cached_tokens()) if callable(self.cached_tokens) else 0
        return shapes.usage(self.dialect, self.request.prompt_tokens, self.reply, cached)

    def output(self) -> list[dict[str, Any]]:
        """``_make_response_output_items_with_harmony``: one item per harmony message, the last
        one from the parser's state when generation was cut."""
        reply, cut = self.reply, self.reply.finish_reason == "length"
        items: list[dict[str, Any]] = []
        if reply.reasoning:
            items.append(
                shapes.reasoning_item(f"rs_{random_uuid()}", "".join(reply.reasoning), None)
            )
        if reply.content:
            parts = [shapes.output_text("".join(reply.content), None)]
            status = "incomplete" if cut else "completed"
            items.append(shapes.message_item(f"msg_{random_uuid()}", parts, status))
        if reply.tool_call is not None:
            rid = random_uuid()
            call = reply.tool_call
            items.append(
                shapes.call_item(call.name, call.arguments, f"fc_{rid}", f"call_{rid}", None)
            )
        return items

    def whole(self, *, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        body = self.request.body
        output: list[dict[str, Any]] = []
        if status == "completed":
            output = self.output()
            if self.reply.finish_reason == "length" or not output:
                status = "incomplete"
        if self.status_override is not None:
            status = self.status_override
        sampling = {"temperature": body.get("temperature"), "top_p": body.get("top_p")}
        response: dict[str, Any] = {
            "id": self.id,
            "created_at": self.created,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata"),
            "model": self.model,
            "object": "response",
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "temperature": 1.0 if sampling["temperature"] is None else sampling["temperature"],
            "tool_choice": shapes.echo_tool_choice(body.get("tool_choice", "auto")),
            "tools": [shapes.echo_tool(t) for t in body.get("tools") or []],
            "top_p": 1.0 if sampling["top_p"] is None else sampling["top_p"],
            "background": bool(body.get("background", False)),
            "max_output_tokens": self.max_output_tokens,
            "max_tool_calls": body.get("max_tool_calls"),
            "previous_response_id": self.request.previous_response_id,
            "prompt": None,
            "reasoning": shapes.echo_reasoning(body.get("reasoning")),
            "service_tier": body.get("service_tier") or "auto",
            "status": status,
            "text": shapes.echo_text(body.get("text")),
            "top_logprobs": None,
            "truncation": body.get("truncation") or "disabled",
            "usage": usage,
            "user": body.get("user"),
        }
        if self.dialect.newer:
            response |= {
                "metrics": None,
                "presence_penalty": 0.0,
                "frequency_penalty": 0.0,
                "kv_transfer_params": None,
                "ec_transfer_params": None,
            }
        response |= {"input_messages": None, "output_messages": None}
        return response

    # -- the stream

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = dict(fields)
        event["sequence_number"] = self._seq
        event["type"] = kind
        self._seq += 1
        return dict(sorted(event.items()))

    def opening(self) -> list[dict[str, Any]]:
        head = self.whole(status="in_progress", usage=None)
        return [
            self._event("response.created", response=head),
            self._event("response.in_progress", response=head),
        ]

    def deltas(self, pieces: list[tuple[Channel, str]]) -> list[dict[str, Any]]:
        """Events for one engine output: one delta per channel it touches (vLLM sends the
        output's ``last_content_delta`` as one delta; an output spanning two harmony messages
        is split at the boundary here, where 0.17 would file it under the second)."""
        runs: list[tuple[Channel, str]] = []
        for channel, text in pieces:
            if runs and runs[-1][0] == channel:
                runs[-1] = (channel, runs[-1][1] + text)
            else:
                runs.append((channel, text))
        events: list[dict[str, Any]] = []
        for channel, text in runs:
            if self._open is not None and self._open != channel:
                events += self._done()
                self._index += 1
                if self.dialect.newer:
                    self._content_index = -1
                self._open = None
            events += self._delta(channel, text)
        return events

    def _delta(self, channel: Channel, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        index, newer = self._index, self.dialect.newer
        if self._open is None:
            self._open, self._text = channel, ""
            if channel == "tool":
                self._item_id, self._call_id = f"fc_{random_uuid()}", f"call_{random_uuid()}"
                item = shapes.call_item(
                    self._name(), "", self._item_id, self._call_id, "in_progress"
                )
                events.append(
                    self._event("response.output_item.added", item=item, output_index=index)
                )
            else:
                prefix = "rs" if newer and channel == "reasoning" else "msg"
                self._item_id = f"{prefix}_{random_uuid()}"
                self._content_index += 1
                if channel == "reasoning":
                    item = shapes.reasoning_item(self._item_id, None, "in_progress")
                    part: dict[str, Any] = {"text": "", "type": "reasoning_text"}
                    kind = (
                        "response.content_part.added" if newer else "response.reasoning_part.added"
                    )
                else:
                    item = shapes.message_item(self._item_id, [], "in_progress")
                    part = shapes.output_text("", [])
                    kind = "response.content_part.added"
                events.append(
                    self._event("response.output_item.added", item=item, output_index=index)
                )
                events.append(
                    self._event(
                        kind,
                        content_index=self._content_index,
                        item_id=self._item_id,
                        output_index=index,
                        part=part,
                    )
                )
        self._text += text
        common = {"item_id": self._item_id, "output_index": index, "delta": text}
        if channel == "tool":
            events.append(self._event("response.function_call_arguments.delta", **common))
        elif channel == "reasoning":
            events.append(
                self._event(
                    "response.reasoning_text.delta", content_index=self._content_index, **common
                )
            )
        else:
            events.append(
                self._event(
                    "response.output_text.delta",
                    content_index=self._content_index,
                    logprobs=[],
                    **common,
                )
            )
        return events

    def _name(self) -> str:
        return self.reply.tool_call.name if self.reply.tool_call is not None else ""

    def _done(self) -> list[dict[str, Any]]:
        channel, index, text = self._open, self._index, self._text
        common = {"item_id": self._item_id, "output_index": index}
        if channel == "tool":
            item = shapes.call_item(self._name(), text, self._item_id, self._call_id, "completed")
            if self.dialect.newer:
                item |= {"output_index": index, "sequence_number": -1}
            else:
                # 0.17 builds the done item with item_id instead of id (streaming_events.py,
                # emit_function_call_done_events); openai's model keeps the extras.
                item["id"] = None
                item |= {"item_id": self._item_id, "output_index": index, "sequence_number": -1}
            return [
                self._event(
                    "response.function_call_arguments.done",
                    arguments=text,
                    name=self._name(),
                    **common,
                ),
                self._event("response.output_item.done", item=item, output_index=index),
            ]
        ci = self._content_index
        if channel == "reasoning":
            part = {"text": text, "type": "reasoning_text"}
            part_kind = (
                "response.content_part.done"
                if self.dialect.newer
                else ("response.reasoning_part.done")
            )
            return [
                self._event("response.reasoning_text.done", content_index=ci, text=text, **common),
                self._event(part_kind, content_index=ci, part=part, **common),
                self._event(
                    "response.output_item.done",
                    item=shapes.reasoning_item(self._item_id, text, "completed"),
                    output_index=index,
                ),
            ]
        part = shapes.output_text(text, None)
        return [
            self._event(
                "response.output_text.done", content_index=ci, logprobs=[], text=text, **common
            ),
            self._event("response.content_part.done", content_index=ci, part=part, **common),
            self._event(
                "response.output_item.done",
                item=shapes.message_item(self._item_id, [part], "completed"),
                output_index=index,
            ),
        ]

    def closing(self, usage: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._open is not None and self.reply.finish_reason != "length":
            # The message that ended with <|return|> or <|call|> is done; a cut one is not.
            events += self._done()
        final = self.whole(status="completed", usage=usage)
        return [*events, self._event("response.completed", response=final)]


def history_tokens(stored: Mapping[str, Any]) -> int:
    """What a stored turn adds to the next prompt: its prompt and its output (vLLM keeps every
    message, analysis included, in ``msg_store``)."""
    usage_ = stored.get("usage") or {}
    return int(usage_.get("input_tokens", 0)) + int(usage_.get("output_tokens", 0))
