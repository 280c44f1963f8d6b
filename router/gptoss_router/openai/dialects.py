"""What each kind of backend can serve and how it speaks (docs/sources.md, Providers).

A request's *features* (``inbound.features``) must all be among a backend's *capabilities*
for the backend to be a candidate. Feature names:

    chat, completions, responses     the route
    tools                            function tools in the request
    json_object, json_schema         ``response_format`` (chat) or ``text.format`` (responses)
    json_schema_strict               a strict schema, which needs constrained decoding
    tools_with_json                  tools and a JSON response format together
    responses_stateful               ``previous_response_id`` or ``conversation``
    responses_stream_tools           a streamed Responses request with function tools
    choices                          ``n`` above 1 (chat, completions)
    logprobs                         token logprobs (chat ``logprobs``/``top_logprobs``,
                                     completions ``logprobs``)
    logit_bias                       a non-empty ``logit_bias``
    penalties                        a non-zero ``frequency_penalty`` or ``presence_penalty``

What a backend refuses only by its presence, when it asks for nothing (``logprobs: false``,
``logit_bias: {}``), is removed instead (``drop_unset``), and so is a message's ``name`` where it
is refused (``message_names``): neither changes what the model does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gptoss_router.config.providers import ProviderKind

__all__ = ["Dialect", "dialect_for"]

_BASE = frozenset(
    {"chat", "tools", "json_object", "json_schema", "json_schema_strict", "tools_with_json"}
)
_SAMPLING = frozenset({"choices", "logprobs", "logit_bias", "penalties"})


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one kind of backend differs from OpenAI's API."""

    capabilities: frozenset[str]
    # Field the backend returns reasoning in, and the one it accepts on assistant turns
    # (None: it rejects both, drop them).
    reasoning_out: str
    reasoning_in: str | None
    # Parameters the backend rejects; the router removes them before sending.
    drop_params: frozenset[str]
    # Statuses that mean "overloaded, try elsewhere" besides 5xx and 429.
    overload_statuses: frozenset[int]
    # Responses ``instructions`` reach the model only beside a function tool (vLLM 0.17 for
    # gpt-oss); the router sends them as a leading developer input item otherwise.
    instructions_need_tools: bool = False
    # A native Responses stream the openai SDK cannot read as it is: content parts numbered
    # over the response, function call ids that change (vLLM; ``vllm_stream``).
    mend_responses_stream: bool = False
    # Parameters the backend refuses even when they ask for nothing: removed when falsy.
    drop_unset: frozenset[str] = frozenset()
    # Whether the backend takes a chat message's ``name`` (else it is removed).
    message_names: bool = True


_DIALECTS: dict[ProviderKind, Dialect] = {
    # vLLM: Harmony matrix in the gpt-oss recipe; streams Responses function calls
    # (`response.function_call_arguments.delta`/`.done`, vllm/entrypoints/openai/responses/
    # streaming_events.py); keeps no Responses state a later turn could use (the store is off
    # unless VLLM_ENABLE_RESPONSES_API_STORE=1, and then per process); returns `reasoning` since
    # PR #27752 and no longer knows `reasoning_content` (PR #33402). Chat ignores `user`,
    # completions has no `suffix`. 0.17 renders Responses `instructions` for gpt-oss only in
    # the developer message a function tool brings (responses/serving.py,
    # _construct_input_messages_with_harmony; docs/simulator.md, What gptoss changed).
    ProviderKind.VLLM: Dialect(
        capabilities=_BASE | _SAMPLING | {"completions", "responses", "responses_stream_tools"},
        reasoning_out="reasoning",
        reasoning_in="reasoning",
        drop_params=frozenset({"suffix"}),
        overload_statuses=frozenset(),
        instructions_need_tools=True,
        mend_responses_stream=True,
    ),
    # Groq: `message.reasoning`, rejects `reasoning_content` on input; strict json_schema
    # on gpt-oss; JSON mode with tools rejected; Responses is stateless; 498 capacity_exceeded
    # on the flex tier. No legacy completions endpoint is documented. 400 for `logprobs`,
    # `top_logprobs`, `logit_bias` and a message's `name` if supplied, and for `n` other than 1.
    ProviderKind.GROQ: Dialect(
        capabilities=(_BASE - {"tools_with_json"}) | {"responses", "penalties"},
        reasoning_out="reasoning",
        reasoning_in=None,
        drop_params=frozenset(),
        overload_statuses=frozenset({498}),
        drop_unset=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
        message_names=False,
    ),
    # Fireworks: `reasoning_content`; stateful Responses (previous_response_id); 503 overload.
    ProviderKind.FIREWORKS: Dialect(
        capabilities=_BASE | _SAMPLING | {"completions", "responses", "responses_stateful"},
        reasoning_out="reasoning_content",
        reasoning_in="reasoning_content",
        drop_params=frozenset(),
        overload_statuses=frozenset(),
    ),
    # Together: `reasoning`; Responses without stored responses; 503 at capacity, 429 above
    # the dynamic rate.
    ProviderKind.TOGETHER: Dialect(
        capabilities=_BASE | _SAMPLING | {"completions", "responses"},
        reasoning_out="reasoning",
        reasoning_in="reasoning",
        drop_params=frozenset(),
        overload_statuses=frozenset(),
    ),
    # Cerebras: no strict tools, json_object or strict json_schema; rejects
    # `parallel_tool_calls: false`; 400 for `frequency_penalty`, `presence_penalty` and
    # `logit_bias`; `n` and logprobs not documented; flat error envelope.
    ProviderKind.CEREBRAS: Dialect(
        capabilities=frozenset({"chat", "tools", "json_schema"}),
        reasoning_out="reasoning",
        reasoning_in="reasoning",
        drop_params=frozenset({"parallel_tool_calls"}),
        overload_statuses=frozenset(),
        drop_unset=frozenset({"frequency_penalty", "presence_penalty", "logit_bias"}),
    ),
    ProviderKind.OPENAI: Dialect(
        capabilities=_BASE | _SAMPLING | {"completions", "responses", "responses_tool_choice"},
        reasoning_out="reasoning",
        reasoning_in="reasoning",
        drop_params=frozenset(),
        overload_statuses=frozenset(),
    ),
}


def dialect_for(
    kind: ProviderKind,
    *,
    capabilities: frozenset[str] | None = None,
    drop_params: frozenset[str] = frozenset(),
) -> Dialect:
    """The dialect of ``kind``, with configured capabilities and extra dropped params."""
    base = _DIALECTS[kind]
    return replace(
        base,
        capabilities=base.capabilities if capabilities is None else capabilities,
        drop_params=base.drop_params | drop_params,
    )
