"""The pieces of a vLLM ``/v1/responses`` response object for gpt-oss (vLLM 0.17.0
``vllm/entrypoints/openai/responses/{protocol,serving,harmony}.py``): the request's fields echoed
as openai's types dump them, usage as ``HarmonyContext`` counts it, and the output items."""

from __future__ import annotations

from typing import Any

from gptoss_sim.reply import Reply
from gptoss_sim.vllm_protocol import Dialect

__all__ = [
    "call_item",
    "echo_reasoning",
    "echo_text",
    "echo_tool",
    "echo_tool_choice",
    "message_item",
    "output_text",
    "reasoning_item",
    "usage",
]


# -- echoes of the request, as openai's types dump them ---------------------------------------


def echo_reasoning(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    keys = ("effort", "generate_summary", "summary")
    return {k: value.get(k) for k in keys}


def echo_text(value: Any) -> dict[str, Any] | None:
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


def echo_tool(tool: Any) -> Any:
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {
            "name": tool.get("name"),
            "parameters": tool.get("parameters"),
            "strict": tool.get("strict"),
            "type": "function",
            "description": tool.get("description"),
        }
    return tool


def echo_tool_choice(choice: Any) -> Any:
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


def reasoning_item(item_id: str, text: str | None, status: str | None) -> dict[str, Any]:
    content = None if text is None else [{"text": text, "type": "reasoning_text"}]
    return {
        "id": item_id,
        "summary": [],
        "type": "reasoning",
        "content": content,
        "encrypted_content": None,
        "status": status,
    }


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "content": parts,
        "role": "assistant",
        "status": status,
        "type": "message",
        "phase": None,
    }


def output_text(text: str, logprobs: list[Any] | None) -> dict[str, Any]:
    return {"annotations": [], "text": text, "type": "output_text", "logprobs": logprobs}


def call_item(
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
