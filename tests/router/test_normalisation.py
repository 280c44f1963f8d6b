"""Normalisation both ways: model ids, reasoning fields, effort, rejected params, usage."""

from __future__ import annotations

import json

from gptoss_router.config.providers import ProviderKind
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.openai.outbound import outbound_body
from gptoss_router.openai.replies import Reshape, reshape_chunk, reshape_document, usage_of

VLLM = dialect_for(ProviderKind.VLLM)
GROQ = dialect_for(ProviderKind.GROQ)
FIREWORKS = dialect_for(ProviderKind.FIREWORKS)
CEREBRAS = dialect_for(ProviderKind.CEREBRAS)


def send(
    payload: dict[str, object], *, model_id: str = "gpt-oss-120b", dialect=VLLM, route="chat"
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    raw = json.dumps(payload).encode()
    out = outbound_body(read_inbound(route, raw), raw, model_id=model_id, dialect=dialect)
    return json.loads(out)  # type: ignore[no-any-return]


def test_a_request_needing_no_change_is_sent_byte_for_byte() -> None:
    raw = b'{"model":"gpt-oss-120b","messages":[{"role":"user","content":"hi"}]}'
    inbound = read_inbound("chat", raw)
    assert outbound_body(inbound, raw, model_id="gpt-oss-120b", dialect=VLLM) is raw


def test_the_model_id_becomes_the_providers_own() -> None:
    sent = send(
        {"model": "gpt-oss-120b", "messages": []}, model_id="accounts/fireworks/models/gpt-oss-120b"
    )
    assert sent["model"] == "accounts/fireworks/models/gpt-oss-120b"


def test_efforts_gpt_oss_does_not_know_map_to_the_nearest_it_does() -> None:
    low = send({"model": "gpt-oss-120b", "messages": [], "reasoning_effort": "minimal"})
    high = send(
        {"model": "gpt-oss-120b", "input": "x", "reasoning": {"effort": "xhigh"}}, route="responses"
    )
    assert (low["reasoning_effort"], high["reasoning"]) == ("low", {"effort": "high"})


def test_reasoning_on_earlier_turns_is_dropped_for_groq_which_rejects_it() -> None:
    turn = {"role": "assistant", "content": "4", "reasoning_content": "2+2"}
    sent = send({"model": "gpt-oss-120b", "messages": [turn]}, dialect=GROQ)
    assert sent["messages"] == [{"role": "assistant", "content": "4"}]


def test_reasoning_on_earlier_turns_is_renamed_for_fireworks() -> None:
    turn = {"role": "assistant", "content": "4", "reasoning": "2+2"}
    sent = send({"model": "gpt-oss-120b", "messages": [turn]}, dialect=FIREWORKS)
    assert sent["messages"] == [{"role": "assistant", "content": "4", "reasoning_content": "2+2"}]


def test_parameters_a_provider_rejects_are_removed() -> None:
    sent = send(
        {"model": "gpt-oss-120b", "messages": [], "parallel_tool_calls": False}, dialect=CEREBRAS
    )
    assert "parallel_tool_calls" not in sent


def test_streams_always_ask_the_upstream_for_usage() -> None:
    sent = send({"model": "gpt-oss-120b", "messages": [], "stream": True})
    assert sent["stream_options"] == {"include_usage": True}


def how(**changes: object) -> Reshape:
    base: dict[str, object] = {
        "route": "chat",
        "model": "gpt-oss-120b",
        "backend_model": "accounts/fireworks/models/gpt-oss-120b",
        "reasoning_out": "reasoning_content",
        "strip_reasoning": False,
        "keep_usage_chunk": False,
    }
    base.update(changes)
    return Reshape(**base)  # type: ignore[arg-type]


def test_fireworks_reasoning_content_comes_back_as_reasoning_under_our_model_name() -> None:
    doc = {
        "model": "accounts/fireworks/models/gpt-oss-120b",
        "choices": [{"message": {"content": "4", "reasoning_content": "2+2"}}],
    }
    out = reshape_document(doc, how())
    assert out["model"] == "gpt-oss-120b"
    assert out["choices"][0]["message"] == {"content": "4", "reasoning": "2+2"}


def test_an_app_that_must_not_see_chain_of_thought_gets_none_in_chunks() -> None:
    chunk = {"model": "m", "choices": [{"delta": {"reasoning": "think", "content": ""}}]}
    out = reshape_chunk(chunk, how(strip_reasoning=True))
    assert out is not None and out["choices"][0]["delta"] == {"content": ""}


def test_reasoning_items_and_events_are_removed_from_responses_for_such_an_app() -> None:
    stripping = how(route="responses", strip_reasoning=True)
    event = {"type": "response.reasoning_text.delta", "delta": "think"}
    done = {
        "type": "response.completed",
        "response": {"model": "x", "output": [{"type": "reasoning"}, {"type": "message"}]},
    }
    assert reshape_chunk(event, stripping) is None
    kept = reshape_chunk(done, stripping)
    assert kept is not None and kept["response"]["output"] == [{"type": "message"}]


def test_a_usage_chunk_the_client_did_not_ask_for_is_dropped_but_still_read() -> None:
    chunk = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
    assert reshape_chunk(dict(chunk), how()) is None
    assert reshape_chunk(dict(chunk), how(keep_usage_chunk=True)) is not None
    usage = usage_of(chunk)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (5, 7)


def test_usage_is_read_from_a_completed_responses_event() -> None:
    event = {
        "type": "response.completed",
        "response": {"usage": {"input_tokens": 3, "output_tokens": 9}},
    }
    usage = usage_of(event)
    assert usage is not None and usage.output_tokens == 9


def test_a_streamed_request_to_a_pod_gains_include_usage_without_its_prompt_reencoded() -> None:
    raw = b'{"model": "gpt-oss-120b", "messages": [{"role": "user", "content": "h\\u00e9"}], '
    raw += b'"stream": true}  '
    out = outbound_body(read_inbound("chat", raw), raw, model_id="gpt-oss-120b", dialect=VLLM)
    assert out.startswith(raw.rstrip()[:-1])
    assert json.loads(out)["stream_options"] == {"include_usage": True}
