"""Translate a whole (non-streamed) Chat Completions reply into a Responses ``response`` (pure).

The ``chat.completion`` (https://platform.openai.com/docs/api-reference/chat/object) becomes a
``response`` object (https://platform.openai.com/docs/api-reference/responses/object) whose
``output`` holds, in the order gpt-oss produced them:

- a ``reasoning`` item with the chain of thought as ``reasoning_text`` content (vLLM's
  ``reasoning``, Fireworks' ``reasoning_content``); its ``summary`` is empty, gpt-oss has none;
- a ``message`` item with one ``output_text`` part (and a ``refusal`` part if there is one);
- one ``function_call`` item per tool call, with the call's id as ``call_id``.

``finish_reason`` "length" makes the response ``incomplete`` with reason ``max_output_tokens``
("content_filter" likewise) and marks the last item incomplete; usage is renamed (prompt →
input, completion → output tokens) with cached and reasoning token details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptoss_router.openai.responses_objects import (
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

__all__ = ["response_from_chat"]


def response_from_chat(
    completion: Mapping[str, Any], echo: Mapping[str, Any], *, response_id: str | None = None
) -> dict[str, Any]:
    """The ``response`` object for ``completion``, repeating the request's ``echo``.

    ``echo`` is ``response_echo(request)``; ``response_id`` defaults to one derived from the
    completion's id.
    """
    rid = response_id or response_id_for(completion.get("id"))
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") if isinstance(choice, dict) else None
    status, reason = status_for(choice.get("finish_reason") if isinstance(choice, dict) else None)
    output = _output(message if isinstance(message, dict) else {}, rid)
    if reason is not None and output:
        output[-1]["status"] = "incomplete"
    created = completion.get("created")
    return response_object(
        echo,
        response_id=rid,
        created_at=created if isinstance(created, int) else 0,
        status=status,
        output=output,
        usage=usage_from_chat(completion.get("usage")),
        incomplete_reason=reason,
    )


def _output(message: Mapping[str, Any], rid: str) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    reasoning = chat_reasoning(message)
    if reasoning:
        parts = [reasoning_text_part(reasoning)]
        output.append(reasoning_item(item_id("rs", rid, len(output)), parts, "completed"))
    content, refusal = message.get("content"), message.get("refusal")
    parts = []
    if isinstance(content, str) and content:
        parts.append(output_text_part(content))
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        output.append(message_item(item_id("msg", rid, len(output)), parts, "completed"))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        index = len(output)
        output.append(
            function_call_item(
                item_id("fc", rid, index),
                call_id=_str(call.get("id")) or item_id("call", rid, index),
                name=_str(function.get("name")),
                arguments=_str(function.get("arguments")),
                status="completed",
            )
        )
    return output


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
