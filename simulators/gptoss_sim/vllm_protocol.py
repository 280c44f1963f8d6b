"""What vLLM's OpenAI server decides for gpt-oss, per release: ids, refusals, context length.

The simulator speaks two releases, read from their wheels: ``0.17.0`` (the image the operator
pins, the default) and ``0.32.0``. Where they differ a :class:`Dialect` picks one; everything
else in the vLLM simulator asks its dialect instead of hard-coding either.

Paths in docstrings are inside the vLLM wheel (``vllm/...``); 0.17 keeps the OpenAI server
under ``entrypoints/openai/{chat_completion,completion,responses,engine}``, 0.32 moved the
shared parts to ``entrypoints/serve`` and ``renderers``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gptoss_sim.errors import SimError

VLLM_017 = "0.17.0"
VLLM_032 = "0.32.0"
VERSIONS = (VLLM_017, VLLM_032)

# gpt-oss ends a tool-call turn with <|call|> (200012), one of the stop token ids harmony adds
# (vllm/entrypoints/openai/parser/harmony_utils.py ``get_stop_tokens_for_assistant_actions``);
# the scheduler records a stop token id as ``stop_reason`` but not the tokenizer's EOS
# <|return|>, which ends an answer (vllm/v1/core/sched/utils.py ``check_stop``).
CALL_TOKEN_ID = 200012

# vLLM's default ``max_tokens`` for /v1/completions (``CompletionRequest.max_tokens = 16``).
COMPLETION_DEFAULT_MAX_TOKENS = 16


def random_uuid() -> str:
    """vLLM's ``random_uuid``: 16 hex digits (vllm/utils/__init__.py, both releases)."""
    return f"{uuid.uuid4().int & ((1 << 64) - 1):016x}"


def tool_call_id() -> str:
    """``chatcmpl-tool-`` + 16 hex (``make_tool_call_id``, vllm/entrypoints/chat_utils.py in
    0.17, vllm/renderers/chat_utils.py in 0.32)."""
    return f"chatcmpl-tool-{random_uuid()}"


@dataclass(frozen=True)
class Dialect:
    """One vLLM server as the operator starts it.

    ``tool_parser`` is ``--tool-call-parser openai``, ``auto_tools`` is
    ``--enable-auto-tool-choice``, ``reasoning_parser`` is ``--reasoning-parser
    openai_gptoss``; ``served_model`` is ``--served-model-name`` and ``model_path`` the model
    ``vllm serve`` loads (``root`` in ``/v1/models``).
    """

    version: str = VLLM_017
    served_model: str = "openai/gpt-oss-120b"
    aliases: tuple[str, ...] = ()
    model_path: str = "openai/gpt-oss-120b"
    max_model_len: int = 8192
    tool_parser: bool = True
    auto_tools: bool = True
    reasoning_parser: bool = True
    # The LoRA adapters loaded now (a request's ``model`` may name one; gptoss_sim.lora).
    adapters: Callable[[], Collection[str]] = tuple
    # VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS=1 (gptoss_sim.vllm_responses_prompt).
    system_instructions: bool = False

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"vllm_version must be one of {VERSIONS}, not {self.version!r}")

    @property
    def newer(self) -> bool:
        """0.32 behaviour (else 0.17)."""
        return self.version == VLLM_032

    # -- the model ---------------------------------------------------------------------------

    def check_model(self, requested: object) -> None:
        """An omitted model means the served one; another name is a 404 naming ``model``.

        vllm/entrypoints/openai/engine/serving.py ``_check_model`` / ``_is_model_supported``
        (0.17); 0.32 adds the served aliases (vllm/entrypoints/serve/engine/serving.py).
        """
        names = (self.served_model, *self.aliases)
        if requested is None or requested == "" or requested in names:
            return
        if requested in self.adapters():
            return
        message = f"The model `{requested}` does not exist."
        if self.newer:
            message += f" Valid aliases: {', '.join(names)}."
        raise SimError(404, message, type_="NotFoundError", param="model")

    # -- context length ----------------------------------------------------------------------

    def chat_max_tokens(self, prompt_tokens: int, requested: int | None) -> int:
        """``max_tokens`` a gpt-oss chat request runs with, or vLLM's refusal.

        Harmony chat skips the renderer's length checks in both releases: the prompt is rendered
        by ``_make_request_with_harmony`` and ``get_max_tokens`` clamps the output to what is
        left of ``max_model_len`` (0.17 vllm/entrypoints/utils.py, 0.32
        vllm/entrypoints/serve/utils/api_utils.py). 0.32 refuses a prompt longer than the
        context there; in 0.17 (and for a prompt of exactly the context in 0.32) the clamped
        value reaches ``SamplingParams``, which refuses anything below 1.
        """
        limit = self.max_model_len
        if self.newer and prompt_tokens > limit:
            raise vllm_error(
                f"Input length ({prompt_tokens}) exceeds model's maximum context length ({limit})."
            )
        return _clamped(limit - prompt_tokens, requested)

    def responses_max_tokens(self, prompt_tokens: int, requested: int | None) -> int:
        """``max_output_tokens`` a Responses request runs with, or vLLM's refusal.

        Both releases refuse a prompt that fills the context in ``_validate_generator_input``
        (vllm/entrypoints/openai/responses/serving.py), then clamp with ``get_max_tokens``;
        0.32 first checks the rendered prompt against ``max_model_len`` with the renderer's
        ``TokenizeParams`` (vllm/renderers/params.py ``_token_len_check``).
        """
        limit = self.max_model_len
        if self.newer and prompt_tokens > limit:
            raise _too_long_032(limit, prompt_tokens)
        if prompt_tokens >= limit:
            raise SimError(
                400,
                f"The engine prompt length {prompt_tokens} exceeds the max_model_len {limit}. "
                "Please reduce prompt.",
                type_="invalid_request_error",
                param="input",
            )
        return _clamped(limit - prompt_tokens, requested)

    def completion_max_tokens(self, prompt_tokens: int, requested: int | None) -> int:
        """``max_tokens`` a ``/v1/completions`` request runs with, or vLLM's refusal.

        Completions go through the renderer (vllm/renderers/params.py ``TokenizeParams``).
        0.17 reserves the requested output: the prompt may hold ``max_model_len - max_tokens``
        tokens (the tokenizer truncates at one more, so that is the count the message gives).
        0.32 checks the prompt alone against ``max_model_len`` and clamps the output.
        """
        limit = self.max_model_len
        wanted = COMPLETION_DEFAULT_MAX_TOKENS if requested is None else requested
        if self.newer:
            if prompt_tokens > limit:
                raise _too_long_032(limit, prompt_tokens)
            return _clamped(limit - prompt_tokens, wanted)
        if wanted > limit:
            raise vllm_error(
                f"max_tokens={wanted}cannot be greater than max_model_len=max_total_tokens="
                f"{limit}. Please request fewer output tokens.",
                param="max_tokens",
                value=wanted,
            )
        max_input = limit - wanted
        if prompt_tokens > max_input:
            seen = min(prompt_tokens, max_input + 1)
            raise vllm_error(
                f"You passed {seen} input tokens and requested {wanted} output tokens. "
                f"However, the model's context length is only {limit} tokens, resulting in a "
                f"maximum input length of {max_input} tokens. Please reduce the length of the "
                "input prompt.",
                param="input_tokens",
                value=seen,
            )
        return _clamped(limit - prompt_tokens, wanted)


def _clamped(room: int, requested: int | None) -> int:
    effective = room if requested is None else min(room, requested)
    if effective < 1:
        # SamplingParams._verify_args (vllm/sampling_params.py), a VLLMValidationError.
        raise vllm_error(
            f"max_tokens must be at least 1, got {effective}.",
            param="max_tokens",
            value=effective,
        )
    return effective


def _too_long_032(limit: int, prompt_tokens: int) -> SimError:
    # The tokenizer stops at max_input_tokens + 1 (TokenizeParams.get_encode_kwargs), so vLLM
    # reports "at least" that many.
    seen = min(prompt_tokens, limit + 1)
    qualifier = "at least " if seen == limit + 1 else ""
    return vllm_error(
        f"This model's maximum context length is {limit} tokens. However, your prompt contains "
        f"{qualifier}{seen} input tokens, which exceeds this limit even without any output "
        "tokens. Please reduce the length of the input prompt.",
        param="input_tokens",
        value=seen,
    )


# -- refusals ----------------------------------------------------------------------------------


def vllm_error(message: str, *, param: str | None = None, value: Any = None) -> SimError:
    """A ``VLLMValidationError`` (or plain ``ValueError``) turned into a 400.

    ``create_error_response`` uses ``str(exc)``, which appends ``(parameter=..., value=...)``
    (vllm/exceptions.py), type ``BadRequestError`` and the error's parameter as ``param``.
    """
    extras = [f"parameter={param}"] if param is not None else []
    if value is not None:
        extras.append(f"value={value}")
    text = f"{message} ({', '.join(extras)})" if extras else message
    return SimError(400, text, type_="BadRequestError", param=param)


def invalid_body(
    message: str,
    *,
    loc: Iterable[str | int] = ("body",),
    kind: str = "value_error",
    given: Any = None,
    param: str | None = None,
) -> SimError:
    """A body pydantic refuses: FastAPI's ``RequestValidationError`` as vLLM renders it.

    ``validation_exception_handler`` (0.17 vllm/entrypoints/openai/server_utils.py): status
    400, type ``"Bad Request"`` (the HTTP phrase), ``param`` only when a model validator raised
    a ``VLLMValidationError``, and the pydantic error list as the message. The list is written
    the way pydantic prints it; its exact text depends on pydantic and FastAPI versions.
    """
    error: dict[str, Any] = {"type": kind, "loc": ("body", *tuple(loc)[1:]), "msg": message}
    error["input"] = given
    return SimError(400, repr([error]), type_="Bad Request", param=param)


def value_error(message: str, *, param: str | None = None, given: Any = None) -> SimError:
    """A ``ValueError`` / ``VLLMValidationError`` from a ``mode="before"`` model validator."""
    text = f"{message} (parameter={param})" if param is not None else message
    return invalid_body(f"Value error, {text}", given=given, param=param)


def literal_error(field: str, allowed: Iterable[str], given: Any) -> SimError:
    """A value outside a ``Literal[...]`` field."""
    names = [f"'{a}'" for a in allowed]
    expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return invalid_body(
        f"Input should be {expected}", loc=("body", field), kind="literal_error", given=given
    )


def json_media_type(content_type: str) -> None:
    """``validate_json_request`` (vllm/entrypoints/openai/utils.py): a JSON body or 400."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise SimError(
            400,
            str(["Unsupported Media Type: Only 'application/json' is allowed"]),
            type_="Bad Request",
        )


def as_mapping(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise invalid_body(
            "Input should be a valid dictionary or object to extract fields from",
            kind="model_attributes_type",
            given=body,
        )
    return body
