"""The harmony messages vLLM renders a ``/v1/responses`` request into for gpt-oss.

vLLM 0.17.0 (``vllm/entrypoints/openai/responses/serving.py``,
``_construct_input_messages_with_harmony``; ``parser/harmony_utils.py``, ``get_system_message``
and ``get_developer_message``; ``responses/harmony.py``, ``response_input_to_harmony``):

* the **system** message holds the model identity, the text of the last ``system`` item of the
  input (``_extract_system_message_from_request``), and with
  ``VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS=1`` the request's ``instructions`` after it;
* a **developer** message follows only when the request has a custom tool, any tool other
  than the built-in ``code_interpreter``, ``web_search_preview`` and ``container``
  (``has_custom_tools``). It holds ``instructions`` (unless the variable above put them in the
  system message) and the function tools. **Without a custom tool and without the variable,
  ``instructions`` are rendered nowhere**: the model never sees them;
* then each input item: a message in its own role (a ``developer`` one prefixed
  ``Instructions:``, a ``system`` one rendered again after the system message), a
  ``function_call_output`` as the tool's message, ``function_call`` and ``reasoning`` as the
  assistant's.

vLLM 0.32.0 (``vllm/renderers/online_renderer.py`` and ``build_harmony_preamble``) renders
``instructions`` in the developer message with or without tools, and when a request has no
``instructions`` takes a leading ``system`` or ``developer`` input item as them
(``extract_instructions_from_messages``). Its system message has no model identity.

The simulator counts four characters a token and four framing tokens a message
(``gptoss_sim.tokens``); the system message's fixed text is not counted, its model identity is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gptoss_sim import tokens
from gptoss_sim.responses_api import item_text

__all__ = ["HarmonyPrompt", "continuing", "render"]

# parser/harmony_utils.py MCP_BUILTIN_TOOLS: the tools that go in the system message.
BUILTIN_TOOLS = frozenset({"code_interpreter", "web_search_preview", "container"})
_PEELED_ROLES = ("system", "developer")


@dataclass(frozen=True)
class HarmonyPrompt:
    identity: str  # the system message's model identity ("" without one)
    messages: tuple[tuple[str, str], ...]  # (role, text) after the system message, in order
    # The rest of the system message: the effort asked for (None: the server's default) and
    # whether custom tools follow.
    effort: str | None = None
    custom_tools: bool = False

    @property
    def tokens(self) -> int:
        """The prompt's length as the simulator counts it."""
        framing = tokens.MESSAGE_FRAMING_TOKENS * len(self.messages)
        text = sum(tokens.count_text(t) for _, t in self.messages)
        return tokens.count_text(self.identity) + text + framing + tokens.REPLY_PRIMING_TOKENS


def _first_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "input_text":
                return str(part.get("text"))
    return None


def _item(item: Any) -> tuple[str, str]:
    if not isinstance(item, Mapping):
        return "user", item_text(item)
    kind = item.get("type", "message")
    if kind == "message":
        role = str(item.get("role", "user"))
        prefix = "Instructions:\n" if role == "developer" else ""
        return role, prefix + item_text(item)
    if kind == "function_call_output":
        return "tool", item_text(item)
    return "assistant", item_text(item)  # function_call, reasoning


def _peelable(item: Any) -> bool:
    """A leading item 0.32 takes as the instructions (``extract_instructions_from_messages``)."""
    return (
        isinstance(item, Mapping)
        and item.get("type", "message") == "message"
        and item.get("role") in _PEELED_ROLES
    )


def _tools_text(tools: Sequence[Any]) -> str:
    functions = [t for t in tools if isinstance(t, Mapping) and t.get("type") == "function"]
    return "\n".join(str(t) for t in functions)


def render(
    body: Mapping[str, Any],
    *,
    newer: bool = False,
    system_instructions: bool = False,
    continued: bool = False,
) -> HarmonyPrompt:
    """The messages ``body`` renders into; ``newer``: vLLM 0.32, else 0.17;
    ``system_instructions``: ``VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS=1``; ``continued``: the
    request names a ``previous_response_id`` vLLM holds, whose messages (system and developer
    included) come before these, so only the input items are new (its instructions and tools
    are not rendered again: the ``FIXME`` in ``_construct_input_messages_with_harmony``)."""
    raw = body.get("input")
    items: list[Any] = [raw] if isinstance(raw, str) else list(raw or [])
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    custom = any(t.get("type") not in BUILTIN_TOOLS for t in tools)
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, Mapping) else None
    if continued:
        return HarmonyPrompt("", tuple(_item(i) for i in items), effort, custom)
    instructions = body.get("instructions")
    instructions = None if instructions is None else str(instructions)
    identity = ""
    if newer:
        if instructions is None and items and _peelable(items[0]):
            instructions, items = item_text(items[0]), items[1:]
    else:
        for item in items:
            if isinstance(item, Mapping) and item.get("role") == "system":
                identity = _first_text(item.get("content")) or identity
    if system_instructions and instructions is not None:
        identity = f"{identity}\n{instructions}" if identity else instructions
    developer: list[str] = []
    if not system_instructions and instructions is not None and (custom or newer):
        developer.append(instructions)
    if custom:
        developer.append(_tools_text(tools))
    messages: list[tuple[str, str]] = []
    if custom or any(developer):
        messages.append(("developer", "\n".join(d for d in developer if d)))
    messages += [_item(i) for i in items]
    return HarmonyPrompt(identity, tuple(messages), effort, custom)


def continuing(earlier: HarmonyPrompt, output: Sequence[Any], new: HarmonyPrompt) -> HarmonyPrompt:
    """A ``previous_response_id`` turn as vLLM renders it from its ``msg_store``: the earlier
    turn's messages, its output items, then the new input items (``new``, rendered
    ``continued``)."""
    said = tuple(_item(i) for i in output)
    messages = (*earlier.messages, *said, *new.messages)
    return HarmonyPrompt(earlier.identity, messages, earlier.effort, earlier.custom_tools)
