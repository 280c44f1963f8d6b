"""Turn a Responses API ``input`` into Chat Completions messages (pure).

Shapes: https://platform.openai.com/docs/api-reference/responses/create (``input`` items) and
https://platform.openai.com/docs/api-reference/chat/create (``messages``).

- A string is one user message; user, system and developer messages keep their role.
- A run of assistant-side items (``reasoning``, an assistant ``message``, ``function_call`` items)
  becomes one assistant message with ``content``, ``reasoning`` and ``tool_calls``. That is how
  vLLM renders an assistant turn for gpt-oss: ``reasoning`` to the analysis channel, content to
  the final channel (or, beside tool calls, the commentary channel), each tool call to
  ``functions.<name>`` (``chat_input_to_harmony`` in
  https://github.com/vllm-project/vllm/blob/main/vllm/entrypoints/openai/chat_completion/harmony.py).
  Reasoning or text after the turn has spoken starts the next turn.
- A reasoning item carries its ``reasoning_text`` content, else its summary; encrypted content
  is OpenAI's and opaque, so it carries nothing.
- ``function_call_output`` becomes a ``tool`` message for its ``call_id``.
- Text parts are joined by newlines into one string, which every Chat backend accepts on every
  role; a user message with images keeps Chat's part list (``image_url`` parts).

Items, parts and images Chat Completions cannot carry are refused, naming where they are.
"""

from __future__ import annotations

from typing import Any

from gptoss_router.errors import BadRequest

__all__ = ["chat_messages"]

_ROLES = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "refusal"})


def chat_messages(value: Any) -> list[dict[str, Any]]:
    """The messages for a Responses ``input`` (a string or a list of items)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise BadRequest("Invalid type for 'input': expected a string or an array.", param="input")
    out: list[dict[str, Any]] = []
    turn: dict[str, Any] | None = None  # the assistant message being assembled
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"Invalid type for '{where}': expected an object.", param=where)
        kind = item.get("type") or "message"
        assistant_side = kind in ("reasoning", "function_call") or (
            kind == "message" and item.get("role") == "assistant"
        )
        # Reasoning or text after the turn has said something starts the next turn.
        if turn is not None and (
            not assistant_side
            or (kind != "function_call" and ("content" in turn or "tool_calls" in turn))
        ):
            out.append(_closed(turn))
            turn = None
        if not assistant_side:
            out.append(_other_message(item, kind, where))
            continue
        turn = turn or {"role": "assistant"}
        if kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                turn["reasoning"] = f"{turn['reasoning']}\n{text}" if "reasoning" in turn else text
        elif kind == "function_call":
            turn.setdefault("tool_calls", []).append(_tool_call(item, where))
        else:
            turn["content"] = _text(item.get("content"), f"{where}.content")
    if turn is not None:
        out.append(_closed(turn))
    return out


def _closed(turn: dict[str, Any]) -> dict[str, Any]:
    """An assembled assistant turn; Chat wants ``content`` even beside tool calls."""
    turn.setdefault("content", "")
    return turn


def _other_message(item: dict[str, Any], kind: object, where: str) -> dict[str, Any]:
    if kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise BadRequest(
                f"Missing required parameter: '{where}.call_id'.", param=f"{where}.call_id"
            )
        return {
            "role": "tool",
            "tool_call_id": call_id,
            "content": _text(item.get("output"), f"{where}.output"),
        }
    if kind != "message":
        raise BadRequest(
            f"Input items of type '{kind}' cannot be served by a Chat Completions backend; "
            "only messages, reasoning, function_call and function_call_output can.",
            param=f"{where}.type",
        )
    role = item.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise BadRequest(
            f"Invalid value for '{where}.role': expected one of assistant, developer, system, "
            "user.",
            param=f"{where}.role",
        )
    content = item.get("content")
    if role == "user" and isinstance(content, list) and _has_image(content):
        return {"role": "user", "content": _user_parts(content, f"{where}.content")}
    return {"role": role, "content": _text(content, f"{where}.content")}


def _text(content: Any, where: str) -> str:
    """Text-only content as one string (text parts joined by newlines)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"Invalid type for '{where}': expected a string or an array.", param=where)
    return "\n".join(_part_text(part, f"{where}[{index}]") for index, part in enumerate(content))


def _part_text(part: Any, where: str) -> str:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "input_image":
        raise BadRequest(f"Images are only accepted in user messages ('{where}').", param=where)
    if not isinstance(kind, str) or kind not in _TEXT_PARTS:
        raise BadRequest(
            f"Content parts of type '{kind}' cannot be served by a Chat Completions backend.",
            param=where,
        )
    text = part.get("refusal" if kind == "refusal" else "text")
    if not isinstance(text, str):
        raise BadRequest(f"Invalid content part at '{where}': expected text.", param=where)
    return text


def _has_image(content: list[Any]) -> bool:
    return any(isinstance(part, dict) and part.get("type") == "input_image" for part in content)


def _user_parts(content: list[Any], where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        if not (isinstance(part, dict) and part.get("type") == "input_image"):
            parts.append({"type": "text", "text": _part_text(part, f"{where}[{index}]")})
            continue
        if not isinstance(part.get("image_url"), str):
            raise BadRequest(
                "Images given by 'file_id' need the Files API; send 'image_url' instead.",
                param=f"{where}[{index}]",
            )
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        parts.append({"type": "image_url", "image_url": image})
    return parts


def _reasoning_text(item: dict[str, Any]) -> str:
    """The raw reasoning of a reasoning item, else its summary (encrypted content is opaque)."""
    for field, kind in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = item.get(field)
        if isinstance(parts, list):
            texts = [
                p["text"]
                for p in parts
                if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
            ]
            if texts:
                return "\n".join(texts)
    return ""


def _tool_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    for field, value in (("call_id", call_id), ("name", name), ("arguments", arguments)):
        if not isinstance(value, str):
            raise BadRequest(
                f"Missing required parameter: '{where}.{field}'.", param=f"{where}.{field}"
            )
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
