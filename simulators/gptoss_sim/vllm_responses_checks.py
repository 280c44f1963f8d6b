"""What vLLM checks of a ``/v1/responses`` request before it answers, in the order it checks, and
its errors for stored responses (vLLM 0.17.0 ``vllm/entrypoints/openai/responses/{protocol,
serving}.py``); which function gpt-oss calls for a request's tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gptoss_sim.errors import SimError
from gptoss_sim.reply import EFFORTS
from gptoss_sim.request_shapes import check_responses_shapes
from gptoss_sim.vllm_protocol import (
    Dialect,
    invalid_body,
    literal_error,
    value_error,
    vllm_error,
)
from gptoss_sim.vllm_request_fields import check_responses_fields

__all__ = [
    "OPENAI_EFFORTS",
    "cannot_cancel",
    "check_body",
    "check_prompt",
    "check_serving",
    "check_tool_outputs",
    "not_found",
    "pick_function",
    "store_refusal",
]

# openai's ReasoningEffort literal (openai 2.24, the newest vLLM 0.17 allows); harmony maps only
# low/medium/high (REASONING_EFFORT in parser/harmony_utils.py) and fails on the rest.
OPENAI_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def check_body(body: Mapping[str, Any]) -> None:
    """``ResponsesRequest``'s pydantic checks and ``mode="before"`` validators
    (vllm/entrypoints/openai/responses/protocol.py)."""
    if "input" not in body:
        raise invalid_body("Field required", loc=("body", "input"), kind="missing")
    check_responses_shapes(body)
    check_responses_fields(body)
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


def check_tool_outputs(body: Mapping[str, Any], previous_output: Sequence[Any]) -> None:
    """A ``function_call_output`` is rendered as the tool's message under the call's name, which
    harmony finds among the previous response's output and the ``function_call`` items before
    it in the input; none found is a ``ValueError``, a 400
    (``parse_response_input`` in vllm/entrypoints/openai/parser/harmony_utils.py, called by
    ``_construct_input_messages_with_harmony``)."""
    items = body.get("input")
    if not isinstance(items, list):
        return
    calls = {
        str(item.get("call_id"))
        for item in previous_output
        if isinstance(item, Mapping) and item.get("type") == "function_call"
    }
    for item in items:
        if not isinstance(item, Mapping):
            continue
        call = str(item.get("call_id"))
        if item.get("type") == "function_call":
            calls.add(call)
        elif item.get("type") == "function_call_output" and call not in calls:
            raise vllm_error(f"No call message found for {call}")


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
