"""Requests each provider refuses outright (pure checks over the request body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptoss_sim.errors import SimError
from gptoss_sim.providers.profiles import Kind


def _json_mode(body: Mapping[str, Any]) -> bool:
    return (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")


# Groq: "The following fields are currently not supported and will result in a 400 error if
# they are supplied: logprobs, logit_bias, top_logprobs, messages[].name. If N is supplied, it
# must be equal to 1." (docs/sources.md, Providers: Groq's OpenAI compatibility page).
_GROQ_UNSUPPORTED = ("logprobs", "logit_bias", "top_logprobs")


def check_chat(kind: Kind, body: Mapping[str, Any]) -> None:
    if kind != "groq":
        return
    for field in _GROQ_UNSUPPORTED:
        if body.get(field) is not None:
            raise SimError(
                400, f"'{field}' : not supported", param=field, type_="invalid_request_error"
            )
    if body.get("n") not in (None, 1):
        raise SimError(
            400, "'n' : number must be at most 1", param="n", type_="invalid_request_error"
        )
    for i, message in enumerate(body.get("messages") or []):
        if isinstance(message, dict) and "name" in message:
            raise SimError(
                400,
                f"'messages.{i}' : property 'name' is unsupported",
                param=f"messages.{i}.name",
                type_="invalid_request_error",
            )
    for message in body.get("messages") or []:
        if isinstance(message, dict) and "reasoning_content" in message:
            # Groq: 400 "property 'reasoning_content' is unsupported" on input messages
            # (docs/sources.md, Providers, agentjido/req_llm #772).
            raise SimError(
                400,
                "'messages.1' : for 'role:assistant' the following must be satisfied"
                "[('messages.1' : property 'reasoning_content' is unsupported)]",
                code="invalid_request_error",
                type_="invalid_request_error",
            )
    if _json_mode(body) and body.get("tools"):
        # Groq rejects JSON mode together with tool calling (docs/sources.md, Providers,
        # pydantic-ai PR #3858 discussion).
        raise SimError(
            400,
            "json mode cannot be combined with tool/function calling",
            type_="invalid_request_error",
        )
    if body.get("reasoning_format") == "raw" and (_json_mode(body) or body.get("tools")):
        # Groq: `raw` reasoning with JSON mode or tools is a 400 (docs/sources.md, Providers).
        raise SimError(
            400,
            "reasoning_format=raw is not supported with JSON mode or tools",
            param="reasoning_format",
            type_="invalid_request_error",
        )


def check_responses(kind: Kind, stateful: bool, body: Mapping[str, Any]) -> None:
    if body.get("previous_response_id") and not stateful:
        # Groq's Responses API keeps no conversations, Together stores no responses
        # (docs/sources.md, Providers).
        raise SimError(
            400,
            f"previous_response_id is not supported by {kind}",
            param="previous_response_id",
            type_="invalid_request_error",
        )
