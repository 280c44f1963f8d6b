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

from gptoss_sim.errors import SimError
from gptoss_sim.reply import EFFORTS, Channel, Reply
from gptoss_sim.responses_api import ResponsesRequest
from gptoss_sim.vllm_protocol import Dialect, invalid_body, literal_error, random_uuid, value_error

# openai's ReasoningEffort literal (openai 2.24, the newest vLLM 0.17 allows); harmony maps only
# low/medium/high (REASONING_EFFORT in parser/harmony_utils.py) and fails on the rest.
OPENAI_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def check_body(body: Mapping[str, Any]) -> None:
    """``ResponsesRequest``'s pydantic checks and ``mode="before"`` validators
    (vllm/entrypoints/openai/responses/protocol.py)."""
    if "input" not in body:
        raise invalid_body("Field required", loc=("body", "input"), kind="missing")
    if body.get("background") and not body.get("store", True):
        raise value_error("background can only be used when `store` is true", param="background")
    if body.get("prompt") is not None:
        raise value_error("prompt template is not supported", param="prompt")
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None and effort not in OPENAI_EFFORTS:
        raise literal_error("reasoning.effort", OPENAI_EFFORTS, effort)


def check_serving(body: Mapping[str, Any]) -> None:
    """What ``create_responses`` refuses once the body is valid, before the store is read.

    ``_validate_create_responses_input``: logprobs with gpt-oss, and ``background`` (with the
    default ``store=True``) when ``VLLM_ENABLE_RESPONSES_API_STORE`` is off.
    """
    include = body.get("include") or []
    if "message.output_text.logprobs" in include:
        raise SimError(
            400,
            "logprobs are not supported with gpt-oss models",
            type_="invalid_request_error",
            param="logprobs",
        )


def check_prompt(body: Mapping[str, Any], dialect: Dialect) -> None:
    """What ``_make_request_with_harmony`` refuses while rendering the prompt.

    0.17 serves only ``tool_choice="auto"`` with harmony and says so with a
    ``NotImplementedError`` (501); an effort openai accepts but harmony does not know is a
    ``KeyError`` in ``get_system_message`` (500).
    """
    choice = body.get("tool_choice", "auto")
    if not dialect.newer and choice != "auto":
        raise SimError(
            501,
            "Only 'auto' tool_choice is supported in response API with Harmony",
            type_="NotImplementedError",
        )
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        raise SimError(500, repr(effort), type_="InternalServerError")


def store_refusal(body: Mapping[str, Any], enabled: bool) -> None:
    if body.get("store", True) and not enabled and body.get("background"):
        raise SimError(
            400,
            "This vLLM engine does not support `store=True` and therefore does not support the "
            "background mode. To enable these features, set the environment variable "
            "`VLLM_ENABLE_RESPONSES_API_STORE=1` when launching the vLLM server.",
            type_="invalid_request_error",
            param="background",
        )


def not_found(response_id: str) -> SimError:
    """``_make_not_found_error``: 404, type ``invalid_request_error``, param ``response_id``."""
    return SimError(
        404,
        f"Response with id '{response_id}' not found.",
        type_="invalid_request_error",
        param="response_id",
    )


def cannot_cancel() -> SimError:
    return SimError(
        400,
        "Cannot cancel a synchronous response.",
        type_="invalid_request_error",
        param="response_id",
    )


def pick_function(body: Mapping[str, Any], answered: bool) -> Mapping[str, Any] | None:
    """The function gpt-oss calls: the named one, the first for ``required``, the first for
    ``auto`` unless the input ends with a function's output; none for ``none``."""
    functions: list[Mapping[str, Any]] = [
        t for t in body.get("tools") or [] if t.get("type") == "function"
    ]
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict):
        named = [t for t in functions if t.get("name") == choice.get("name")]
        return named[0] if named else None
    if choice == "required":
        return functions[0]
    return None if answered else functions[0]


# -- echoes of the request, as openai's types dump them ---------------------------------------


def _reasoning(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    keys = ("effort", "generate_summary", "summary")
    return {k: value.get(k) for k in keys}


def _text(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    fmt = value.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        fmt = {
            "name": fmt.get("name"),
            "schema_": fmt.get("schema"),
            "type": "json_schema",
            "description": fmt.get("description"),
            "strict": fmt.get("strict"),
        }
    elif isinstance(fmt, dict):
        fmt = {"type": fmt.get("type")}
    return {"format": fmt, "verbosity": value.get("verbosity")}


def _tool(tool: Any) -> Any:
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {
            "name": tool.get("name"),
            "parameters": tool.get("parameters"),
            "strict": tool.get("strict"),
            "type": "function",
            "description": tool.get("description"),
        }
    return tool


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"name": choice.get("name"), "type": "function"}
    return choice


# -- usage ---------------------------------------------------------------------------------


def usage(dialect: Dialect, prompt_tokens: int, reply: Reply, cached: int = 0) -> dict[str, Any]:
    """``ResponseUsage`` from ``HarmonyContext``: reasoning tokens are those on the analysis
    channel and those of tool calls (``_update_num_reasoning_tokens``); one turn."""
    output = reply.completion_tokens
    inputs: dict[str, Any] = {"cached_tokens": cached}
    if dialect.newer:
        inputs["cache_write_tokens"] = 0
    inputs |= {"input_tokens_per_turn": [prompt_tokens], "cached_tokens_per_turn": [cached]}
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": inputs,
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": len(reply.reasoning) + len(reply.tool_pieces),
            "tool_output_tokens": 0,
            "output_tokens_per_turn": [output],
            "tool_output_tokens_per_turn": [0],
        },
        "total_tokens": prompt_tokens + output,
    }


# -- the response and its events -----------------------------------------------------------


def _reasoning_item(item_id: str, text: str | None, status: str | None) -> dict[str, Any]:
    content = None if text is None else [{"text": text, "type": "reasoning_text"}]
    return {
        "id": item_id,
        "summary": [],
        "type": "reasoning",
        "content": content,
        "encrypted_content": None,
        "status": status,
    }


def _message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "content": parts,
        "role": "assistant",
        "status": status,
        "type": "message",
        "phase": None,
    }


def _output_text(text: str, logprobs: list[Any] | None) -> dict[str, Any]:
    return {"annotations": [], "text": text, "type": "output_text", "logprobs": logprobs}


def _call_item(
    name: str, arguments: str, item_id: str | None, call_id: str, status: str | None
) -> dict[str, Any]:
    return {
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
        "type": "function_call",
        "id": item_id,
        "status": status,
    }


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
        return usage(self.dialect, self.request.prompt_tokens, self.reply, cached)

    def output(self) -> list[dict[str, Any]]:
        """``_make_response_output_items_with_harmony``: one item per harmony message, the last
        one from the parser's state when generation was cut."""
        reply, cut = self.reply, self.reply.finish_reason == "length"
        items: list[dict[str, Any]] = []
        if reply.reasoning:
            items.append(_reasoning_item(f"rs_{random_uuid()}", "".join(reply.reasoning), None))
        if reply.content:
            parts = [_output_text("".join(reply.content), None)]
            status = "incomplete" if cut else "completed"
            items.append(_message_item(f"msg_{random_uuid()}", parts, status))
        if reply.tool_call is not None:
            rid = random_uuid()
            call = reply.tool_call
            items.append(_call_item(call.name, call.arguments, f"fc_{rid}", f"call_{rid}", None))
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
            "tool_choice": _tool_choice(body.get("tool_choice", "auto")),
            "tools": [_tool(t) for t in body.get("tools") or []],
            "top_p": 1.0 if sampling["top_p"] is None else sampling["top_p"],
            "background": bool(body.get("background", False)),
            "max_output_tokens": self.max_output_tokens,
            "max_tool_calls": body.get("max_tool_calls"),
            "previous_response_id": self.request.previous_response_id,
            "prompt": None,
            "reasoning": _reasoning(body.get("reasoning")),
            "service_tier": body.get("service_tier") or "auto",
            "status": status,
            "text": _text(body.get("text")),
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
                item = _call_item(self._name(), "", self._item_id, self._call_id, "in_progress")
                events.append(
                    self._event("response.output_item.added", item=item, output_index=index)
                )
            else:
                prefix = "rs" if newer and channel == "reasoning" else "msg"
                self._item_id = f"{prefix}_{random_uuid()}"
                self._content_index += 1
                if channel == "reasoning":
                    item = _reasoning_item(self._item_id, None, "in_progress")
                    part: dict[str, Any] = {"text": "", "type": "reasoning_text"}
                    kind = (
                        "response.content_part.added" if newer else "response.reasoning_part.added"
                    )
                else:
                    item = _message_item(self._item_id, [], "in_progress")
                    part = _output_text("", [])
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
            item = _call_item(self._name(), text, self._item_id, self._call_id, "completed")
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
                    item=_reasoning_item(self._item_id, text, "completed"),
                    output_index=index,
                ),
            ]
        part = _output_text(text, None)
        return [
            self._event(
                "response.output_text.done", content_index=ci, logprobs=[], text=text, **common
            ),
            self._event("response.content_part.done", content_index=ci, part=part, **common),
            self._event(
                "response.output_item.done",
                item=_message_item(self._item_id, [part], "completed"),
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
