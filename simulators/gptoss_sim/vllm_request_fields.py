"""The request fields vLLM 0.17.0 checks for their type and range, on Chat Completions and on
Responses: what pydantic refuses before any handler runs, and what ``SamplingParams`` refuses
once the request is turned into sampling parameters.

- Types: the fields of ``ChatCompletionRequest`` and ``ResponsesRequest``
  (vllm/entrypoints/openai/chat_completion/protocol.py, responses/protocol.py) as pydantic's lax
  mode reads them: ``seed`` an integer (a number with a fraction is refused, a numeric string is
  taken; ``n`` and ``top_logprobs`` alike), ``stop`` a string or a list of strings, ``user`` a
  string, ``parallel_tool_calls`` a boolean, ``logit_bias`` numbers by token, ``max_tokens`` an
  integer (``"5"`` is taken as 5).
- Chat tools: ``ChatCompletionToolsParam.type`` is ``Literal["function"]`` and
  ``FunctionDefinition.parameters`` an object or null (engine/protocol.py).
- ``check_logprobs`` (chat, a ``mode="before"`` validator): ``top_logprobs`` needs
  ``logprobs``.
- ``SamplingParams._verify_args``, ``_verify_greedy_sampling`` and ``_validate_logprobs``
  (vllm/sampling_params.py): ``n`` at least 1, and 1 when sampling greedily (a temperature
  below 1e-5), the penalties within [-2, 2], ``temperature`` not negative, ``top_p`` within
  (0, 1] (checked before a zero temperature resets it, so ``top_p: 0`` is refused even then),
  ``min_p`` within [0, 1], at most 20 logprobs (``max_logprobs``' default). A ``ValueError``
  there is a plain 400 ``BadRequestError``; a ``VLLMValidationError`` names its parameter and
  value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gptoss_sim.errors import SimError
from gptoss_sim.vllm_protocol import invalid_body, literal_error, value_error, vllm_error

__all__ = ["check_chat_fields", "check_responses_fields", "check_sampling", "lax_int"]

_SAMPLING_EPS = 1e-5  # a temperature below it samples greedily (sampling_params.py)
MAX_LOGPROBS = 20  # ModelConfig.max_logprobs (vllm/config/model.py)
_INT = re.compile(r"^\s*[-+]?\d+\s*$")
_TRUE = ("1", "on", "t", "true", "y", "yes")
_FALSE = ("0", "off", "f", "false", "n", "no")


def lax_int(value: Any, field: str) -> int | None:
    """``value`` as pydantic reads an ``int`` field in lax mode, or its 400."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise invalid_body(
            "Input should be a valid integer, got a number with a fractional part",
            loc=("body", field),
            kind="int_from_float",
            given=value,
        )
    if isinstance(value, str):
        if _INT.match(value):
            return int(value)
        raise invalid_body(
            "Input should be a valid integer, unable to parse string as an integer",
            loc=("body", field),
            kind="int_parsing",
            given=value,
        )
    raise invalid_body(
        "Input should be a valid integer", loc=("body", field), kind="int_type", given=value
    )


def _lax_float(value: Any, loc: tuple[str | int, ...]) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        raise invalid_body(
            "Input should be a valid number, unable to parse string as a number",
            loc=loc,
            kind="float_parsing",
            given=value,
        )
    raise invalid_body("Input should be a valid number", loc=loc, kind="float_type", given=value)


def _check_common(body: Mapping[str, Any]) -> None:
    lax_int(body.get("seed"), "seed")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid_body(
            "Input should be a valid string", loc=("body", "user"), kind="string_type", given=user
        )
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        text = str(parallel).strip().lower() if isinstance(parallel, (str, int)) else None
        if text not in (*_TRUE, *_FALSE):
            raise invalid_body(
                "Input should be a valid boolean, unable to interpret input",
                loc=("body", "parallel_tool_calls"),
                kind="bool_parsing",
                given=parallel,
            )
    for field in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _lax_float(body.get(field), ("body", field))


def check_chat_fields(body: Mapping[str, Any]) -> None:
    """The 400 for a chat body whose fields have a type ``ChatCompletionRequest`` refuses, a
    tool that is not a function, or ``top_logprobs`` without ``logprobs``."""
    _check_common(body)
    for field in ("max_tokens", "max_completion_tokens", "top_logprobs", "n"):
        lax_int(body.get(field), field)
    stop = body.get("stop")
    words = isinstance(stop, list) and all(isinstance(s, str) for s in stop)
    if stop is not None and not isinstance(stop, str) and not words:
        raise invalid_body(
            "Input should be a valid string",
            loc=("body", "stop", "str"),
            kind="string_type",
            given=stop,
        )
    bias = body.get("logit_bias")
    if bias is not None:
        if not isinstance(bias, dict):
            raise invalid_body(
                "Input should be a valid dictionary",
                loc=("body", "logit_bias"),
                kind="dict_type",
                given=bias,
            )
        for token, weight in bias.items():
            _lax_float(weight, ("body", "logit_bias", str(token)))
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            continue
        if tool.get("type", "function") != "function":
            raise literal_error(f"tools.{i}.type", ("function",), tool.get("type"))
        function = tool.get("function")
        parameters = function.get("parameters") if isinstance(function, dict) else None
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_body(
                "Input should be a valid dictionary",
                loc=("body", "tools", i, "function", "parameters"),
                kind="dict_type",
                given=parameters,
            )
    top = lax_int(body.get("top_logprobs"), "top_logprobs")
    if top is not None and (top == -1 or top > 0) and not body.get("logprobs"):
        raise value_error(
            "when using `top_logprobs`, `logprobs` must be set to true.", param="top_logprobs"
        )


def check_responses_fields(body: Mapping[str, Any]) -> None:
    """The 400 for a Responses body whose fields have a type ``ResponsesRequest`` refuses."""
    _check_common(body)
    for field in ("max_output_tokens", "top_logprobs"):
        lax_int(body.get(field), field)


def _number(body: Mapping[str, Any], field: str) -> float | None:
    value = body.get(field)
    return float(value) if isinstance(value, (int, float, str)) and value != "" else None


def check_sampling(body: Mapping[str, Any], *, logprobs: float | bool | None = True) -> None:
    """``SamplingParams``' refusals of what the request set (after the type checks);
    ``logprobs`` is the number of logprobs asked (True: chat's ``top_logprobs``, when
    ``logprobs`` is not false)."""
    n = _number(body, "n")
    if n is not None and n < 1:
        raise SimError(400, f"n must be at least 1, got {int(n)}.")
    for field in ("presence_penalty", "frequency_penalty"):
        penalty = _number(body, field)
        if penalty is not None and not -2.0 <= penalty <= 2.0:
            raise SimError(400, f"{field} must be in [-2, 2], got {penalty}.")
    repetition = _number(body, "repetition_penalty")
    if repetition is not None and repetition <= 0.0:
        raise SimError(400, f"repetition_penalty must be greater than zero, got {repetition}.")
    temperature = _number(body, "temperature")
    if temperature is not None and temperature < 0.0:
        raise vllm_error(
            f"temperature must be non-negative, got {temperature}.",
            param="temperature",
            value=temperature,
        )
    top_p = _number(body, "top_p")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise vllm_error(f"top_p must be in (0, 1], got {top_p}.", param="top_p", value=top_p)
    min_p = _number(body, "min_p")
    if min_p is not None and not 0.0 <= min_p <= 1.0:
        raise SimError(400, f"min_p must be in [0, 1], got {min_p}.")
    if logprobs is True:
        logprobs = _number(body, "top_logprobs") if body.get("logprobs") is not False else None
    if logprobs is not None and logprobs > MAX_LOGPROBS:
        count = int(logprobs)
        raise vllm_error(
            f"Requested sample logprobs of {count}, which is greater than max allowed: "
            f"{MAX_LOGPROBS}",
            param="logprobs",
            value=count,
        )
    # after _verify_args (sampling_params.py, __post_init__)
    if temperature is not None and temperature < _SAMPLING_EPS and n is not None and n > 1:
        raise SimError(400, f"n must be 1 when using greedy sampling, got {int(n)}.")
