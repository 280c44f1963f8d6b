"""The vLLM simulator's request handling between the HTTP route and the engine: what vLLM
checks before generating, in its order, for chat and completions, and the model list (the
Responses routes are ``gptoss_sim.vllm_responses_serving``).

Order of checks, as vLLM 0.17.0 runs them (``vllm/entrypoints/openai/*/api_router.py`` and
``serving.py``): the JSON content type (``validate_json_request``), the body's pydantic model
and validators (400 ``Bad Request``), the model name (404), then each API's own refusals and
the context length (``gptoss_sim.vllm_protocol.Dialect``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from starlette.requests import Request

from gptoss_sim import tokens
from gptoss_sim.chat_request import ChatRequest, count_prompt, parse_chat
from gptoss_sim.completions import CompletionRequest, parse_completion, prompt_of
from gptoss_sim.errors import SimError
from gptoss_sim.reply import ReplyParams
from gptoss_sim.vllm_chat_request import check_body, tool_choice_of
from gptoss_sim.vllm_protocol import (
    Dialect,
    as_mapping,
    invalid_body,
    json_media_type,
    random_uuid,
    vllm_error,
)
from gptoss_sim.vllm_protocol import value_error as _value_error
from gptoss_sim.vllm_request_fields import check_sampling, lax_int


async def read_body(request: Request) -> Mapping[str, Any]:
    """The JSON object of a POST, or vLLM's 400 for another content type or broken JSON."""
    json_media_type(request.headers.get("content-type", ""))
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid_body(
            "JSON decode error", loc=("body", 0), kind="json_invalid", given={}
        ) from exc
    return as_mapping(body)


def _stream_options(body: Mapping[str, Any]) -> None:
    if body.get("stream_options") and not body.get("stream"):
        raise _value_error(
            "Stream options can only be defined when `stream=True`.", param="stream_options"
        )


# -- chat and completions ------------------------------------------------------------------


def chat_request(body: Mapping[str, Any], dialect: Dialect) -> ChatRequest:
    """A chat body vLLM serves, with ``max_tokens`` as vLLM clamps it, or vLLM's refusal."""
    check_body(body)
    dialect.check_model(body.get("model"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimError(400, "messages must be a non-empty list (the simulator needs one)")
    if tool_choice_of(body) == "none" and body.get("tool_choice") == "required":
        body = {k: v for k, v in body.items() if k not in ("tools", "tool_choice")}
    prompt = count_prompt(messages, body.get("tools") or [])
    # pydantic's lax mode takes "5" for 5
    lax = {
        f: lax_int(body.get(f), f)
        for f in ("max_completion_tokens", "max_tokens", "n", "top_logprobs")
    }
    body = {**body, **{f: n for f, n in lax.items() if n is not None}}
    requested = lax["max_completion_tokens"]
    if requested is None:
        requested = lax["max_tokens"]
    max_tokens = dialect.chat_max_tokens(prompt, requested)
    check_sampling(body)  # to_sampling_params, once max_tokens is known
    chat = parse_chat(dict(body), require_model=False)
    # StreamOptions.include_usage defaults to True (engine/protocol.py), and should_include_usage
    # (entrypoints/utils.py) takes any stream_options object as asking for usage unless it says no
    options = body.get("stream_options")
    usage = isinstance(options, dict) and options.get("include_usage", True) not in (None, False)
    return replace(
        chat,
        model=chat.model or dialect.served_model,
        ask=replace(chat.ask, max_tokens=max_tokens),
        include_usage=usage,
    )


def completion_request(
    body: Mapping[str, Any], dialect: Dialect, params: ReplyParams
) -> CompletionRequest:
    _stream_options(body)
    lax = {f: lax_int(body.get(f), f) for f in ("n", "logprobs")}
    body = {**body, **{f: n for f, n in lax.items() if n is not None}}
    logprobs = lax["logprobs"]
    if logprobs is not None and logprobs < 0:  # CompletionRequest.check_logprobs
        raise vllm_error("`logprobs` must be a positive value.", param="logprobs", value=logprobs)
    dialect.check_model(body.get("model"))
    prompt = prompt_of(body)
    max_tokens = dialect.completion_max_tokens(tokens.count_text(prompt), body.get("max_tokens"))
    check_sampling(body, logprobs=logprobs)  # to_sampling_params, once max_tokens is known
    req = parse_completion(dict(body), params, max_tokens=max_tokens, require_model=False)
    return replace(req, model=req.model or dialect.served_model)


# -- models --------------------------------------------------------------------------------


def models_body(dialect: Dialect, adapters: Iterable[tuple[str, str, str]] = ()) -> dict[str, Any]:
    """``ModelList``: a ``ModelCard`` per served name, ``root`` the model path vLLM loaded, then
    one per LoRA adapter (``name, path, parent``) with its path as ``root``, its base model as
    ``parent`` and no ``max_model_len`` (vllm/entrypoints/openai/models/serving.py
    ``show_available_models``)."""
    created = int(time.time())

    def card(name: str, root: str, parent: str | None, max_model_len: int | None) -> Any:
        permission = {
            "id": f"modelperm-{random_uuid()}",
            "object": "model_permission",
            "created": created,
            "allow_create_engine": False,
            "allow_sampling": True,
            "allow_logprobs": True,
            "allow_search_indices": False,
            "allow_view": True,
            "allow_fine_tuning": False,
            "organization": "*",
            "group": None,
            "is_blocking": False,
        }
        return {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": root,
            "parent": parent,
            "max_model_len": max_model_len,
            "permission": [permission],
        }

    # One card per --served-model-name, each rooted at the loaded model.
    names = (dialect.served_model, *dialect.aliases)
    data = [card(n, dialect.model_path, None, dialect.max_model_len) for n in names]
    data += [card(name, path, parent, None) for name, path, parent in adapters]
    return {"object": "list", "data": data}
