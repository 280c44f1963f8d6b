"""The token ids of a request's prompt as vLLM renders it for gpt-oss, and their block hashes.

vLLM hashes the token ids of the rendered prompt (``vllm/v1/core/kv_cache_utils.py``), so two
requests share cached blocks exactly as far as their rendered prompts agree. For gpt-oss the
prompt is rendered with harmony (vLLM 0.17.0 ``chat_completion/serving.py``,
``_make_request_with_harmony``): a system message (model identity, ``Current date``, reasoning
effort, whether custom tools follow), a developer message with the tools, then the conversation
in order, then ``<|start|>assistant`` for the reply. A Responses request renders its own way
(``gptoss_sim.vllm_responses_prompt``): its instructions and tools share the developer message,
and only when it has a function tool.

The simulator has no tokenizer: it counts text at four characters a token and four framing
tokens a message (``gptoss_sim.tokens``, ``gptoss_sim.chat_request.count_prompt``). The ids here
follow that count piece by piece, one id per four-character piece, so a prompt's ids are as
many as its counted tokens, and a conversation that grows by appending messages keeps its
earlier ids. What the count leaves out, the system message, becomes the root of the hash
chain: requests on different dates, at different efforts, with and without tools or with
different ``cache_salt`` share no blocks.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from gptoss_sim import tokens
from gptoss_sim.chat_request import ChatRequest, message_text
from gptoss_sim.completions import CompletionRequest
from gptoss_sim.prefix_cache import BlockHash, block_hashes, chain_root
from gptoss_sim.responses_api import ResponsesRequest
from gptoss_sim.vllm_responses_prompt import HarmonyPrompt

__all__ = ["chat_hashes", "chat_ids", "completion_hashes", "responses_hashes", "responses_ids"]

# Harmony's special tokens in o200k_harmony (openai/harmony): <|start|>, <|end|>, <|message|>,
# <|channel|>; and a filler for counted tokens the rendering below does not produce.
START, END, MESSAGE, CHANNEL = 200006, 200007, 200008, 200005
FILLER = 200017


def _piece_id(piece: str) -> int:
    return zlib.crc32(piece.encode())


def _text_ids(text: str) -> list[int]:
    return [_piece_id(piece) for piece in tokens.pieces(text)]


def _message_ids(role: str, text: str) -> list[int]:
    return [START, _piece_id(role), MESSAGE, *_text_ids(text), END]


_REPLY = [START, _piece_id("assistant"), CHANNEL]


def chat_ids(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any]) -> list[int]:
    """Tools (the developer message), then each message framed, then the reply's opening."""
    ids: list[int] = []
    for tool in tools:
        ids += _text_ids(str(tool))
    for message in messages:
        ids += _message_ids(str(message.get("role", "")), message_text(message))
    return ids + _REPLY


def responses_ids(prompt: HarmonyPrompt) -> list[int]:
    """The messages after the system one (the developer message with instructions and tools,
    when vLLM renders one, then the input items), each framed, then the reply."""
    ids: list[int] = []
    for role, text in prompt.messages:
        ids += _message_ids(role, text)
    return ids + _REPLY


def _fit(ids: list[int], count: int) -> list[int]:
    """Exactly ``count`` ids: the rendering cut or padded at its tail to the counted length."""
    return ids[:count] + [FILLER] * (count - len(ids))


def _system(start_date: str, effort: str, tools: bool, salt: Any, identity: str = "") -> BlockHash:
    salt_text = "" if salt is None else str(salt)
    parts = ("harmony", start_date, effort, "tools" if tools else "", salt_text)
    return chain_root(*parts, *((identity,) if identity else ()))


def chat_hashes(chat: ChatRequest, block_size: int, start_date: str) -> tuple[BlockHash, ...]:
    """The block hashes of a chat request's rendered prompt."""
    tools = list(chat.body.get("tools") or [])
    ids = _fit(chat_ids(chat.messages, tools), chat.prompt_tokens)
    root = _system(start_date, chat.ask.effort, bool(tools), chat.body.get("cache_salt"))
    return block_hashes(ids, block_size, root)


def responses_hashes(
    req: ResponsesRequest, prompt: HarmonyPrompt, block_size: int, start_date: str
) -> tuple[BlockHash, ...]:
    """The block hashes of a Responses request's rendered prompt (``prompt``: its harmony
    messages, ``gptoss_sim.vllm_responses_prompt``); the system message's model identity is
    part of the chain's root."""
    ids = _fit(responses_ids(prompt), req.prompt_tokens)
    effort = prompt.effort or req.ask.effort
    salt = req.body.get("cache_salt")
    root = _system(start_date, effort, prompt.custom_tools, salt, prompt.identity)
    return block_hashes(ids, block_size, root)


def completion_hashes(req: CompletionRequest, block_size: int) -> tuple[BlockHash, ...]:
    """The block hashes of a completions prompt: its text as is, no chat template."""
    ids = _fit(_text_ids(req.prompt), req.prompt_tokens)
    return block_hashes(ids, block_size, chain_root("text"))
