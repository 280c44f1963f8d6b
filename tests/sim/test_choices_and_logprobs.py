"""Several choices (``n``) and token logprobs, as vLLM serves them for gpt-oss and as hosted
providers do; Groq refuses both, as its OpenAI compatibility page says.

vLLM 0.17.0 ``vllm/entrypoints/openai/chat_completion/serving.py`` (full and stream
generators, ``_create_chat_logprobs``), ``vllm/sampling_params.py`` (``n`` checks) and
``vllm/logprobs.py`` (the sampled token first).
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from gptoss_sim import running
from tests.sim.conftest import client_for, provider_sim
from tests.sim.test_vllm_chat_protocol import chat, chunks, serve


def _whole_tokens(choice: dict[str, Any]) -> list[str]:
    return [entry["token"] for entry in choice["logprobs"]["content"]]


def _by_index(seen: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for chunk in seen:
        for choice in chunk["choices"]:
            found.setdefault(choice["index"], []).append(choice)
    return found


def test_vllm_answers_n_choices_each_sampled_afresh_and_counts_all_their_tokens() -> None:
    with serve() as vllm:
        body = chat(vllm, n=3, logprobs=True).json()
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert len({c["message"]["content"] for c in choices}) == 3
    generated = sum(len(c["logprobs"]["content"]) for c in choices)
    assert body["usage"]["completion_tokens"] == generated


def test_vllm_streams_every_choice_under_its_index_after_all_their_role_chunks() -> None:
    with serve() as vllm:
        whole = chat(vllm, n=2).json()["choices"]
        seen = chunks(chat(vllm, n=2, stream=True, stream_options={"include_usage": True}))
    roles = [c for c in seen[:2] for ch in c["choices"] if ch["delta"].get("role")]
    assert [r["choices"][0]["index"] for r in roles] == [0, 1]
    streamed = _by_index(seen)
    for index in (0, 1):
        text = "".join(c["delta"].get("content") or "" for c in streamed[index])
        assert text == whole[index]["message"]["content"]
        finishes = [c["finish_reason"] for c in streamed[index] if c.get("finish_reason")]
        assert finishes == ["stop"]
    assert seen[-1]["choices"] == []
    assert seen[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"n": 0}, "n must be at least 1, got 0."),
        ({"n": 2, "temperature": 0}, "n must be 1 when using greedy sampling, got 2."),
    ],
)
def test_vllm_refuses_n_below_one_and_several_greedy_choices(
    extra: dict[str, Any], message: str
) -> None:
    with serve() as vllm:
        answer = chat(vllm, **extra)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == message


def test_vllm_takes_a_numeric_string_for_n() -> None:
    with serve() as vllm:
        assert len(chat(vllm, n="2").json()["choices"]) == 2


def test_vllm_logprobs_cover_every_generated_token_with_the_sampled_one_first() -> None:
    with serve() as vllm:
        body = chat(vllm, logprobs=True, top_logprobs=3).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert len(entries) == body["usage"]["completion_tokens"]
    message = choice["message"]
    assert "".join(_whole_tokens(choice)) == message["reasoning"] + message["content"]
    for entry in entries:
        assert len(entry["top_logprobs"]) == 3
        first = entry["top_logprobs"][0]
        assert (first["token"], first["logprob"]) == (entry["token"], entry["logprob"])
        assert entry["bytes"] == list(entry["token"].encode())
        assert entry["logprob"] <= 0
        assert all(
            a["logprob"] >= b["logprob"]
            for a, b in zip(entry["top_logprobs"], entry["top_logprobs"][1:], strict=False)
        )


def test_vllm_returns_no_logprobs_when_top_logprobs_is_null() -> None:
    with serve() as vllm:
        assert chat(vllm, logprobs=True, top_logprobs=None).json()["choices"][0]["logprobs"] is None
        assert chat(vllm).json()["choices"][0]["logprobs"] is None


def test_vllm_streamed_logprobs_are_the_whole_answers_chunk_by_chunk() -> None:
    with serve() as vllm:
        whole = chat(vllm, logprobs=True).json()["choices"][0]["logprobs"]["content"]
        seen = chunks(chat(vllm, logprobs=True, stream=True))
    streamed = [
        entry
        for chunk in seen
        for choice in chunk["choices"]
        for entry in (choice["logprobs"] or {}).get("content", [])
    ]
    assert streamed == whole


def test_vllm_drops_the_logprobs_of_chunks_it_does_not_send() -> None:
    """Without reasoning shown, the reasoning tokens' chunks are not sent, and their logprobs
    with them; the whole answer still lists every token."""
    with serve() as vllm:
        whole = chat(vllm, logprobs=True, include_reasoning=False).json()
        seen = chunks(chat(vllm, logprobs=True, include_reasoning=False, stream=True))
    streamed = [
        entry["token"]
        for chunk in seen
        for choice in chunk["choices"]
        for entry in (choice["logprobs"] or {}).get("content", [])
    ]
    content = whole["choices"][0]["message"]["content"]
    assert "".join(streamed) == content
    assert len(whole["choices"][0]["logprobs"]["content"]) == whole["usage"]["completion_tokens"]


@pytest.mark.parametrize("kind", ["fireworks", "together"])
def test_providers_serve_n_choices_and_logprobs_of_the_content(kind: str) -> None:
    with running(provider_sim(kind)) as server:
        client = client_for(server)
        model = next(iter(provider_sim(kind).config.profile.models))
        answer = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hello"}],
            n=2,
            logprobs=True,
            top_logprobs=2,
        )
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hello"}],
            n=2,
            logprobs=True,
            stream=True,
        )
        streamed: dict[int, list[str]] = {}
        for chunk in stream:
            for choice in chunk.choices:
                for entry in (choice.logprobs.content or []) if choice.logprobs else []:
                    streamed.setdefault(choice.index, []).append(entry.token)
    assert [c.index for c in answer.choices] == [0, 1]
    for choice in answer.choices:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert "".join(e.token for e in choice.logprobs.content) == choice.message.content
        assert all(len(e.top_logprobs) == 2 for e in choice.logprobs.content)
        assert "".join(streamed[choice.index]) == choice.message.content


@pytest.mark.parametrize(
    "extra",
    [
        {"logprobs": True},
        {"logprobs": False},
        {"top_logprobs": 2},
        {"logit_bias": {"1": 5}},
        {"n": 2},
        {"messages": [{"role": "user", "content": "hi", "name": "ann"}]},
    ],
)
def test_groq_refuses_what_its_compatibility_page_lists_as_unsupported(
    extra: dict[str, Any],
) -> None:
    with running(provider_sim("groq")) as server:
        body = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(
            f"{server.openai_base_url}/chat/completions",
            json={**body, **extra},
            headers={"authorization": "Bearer test-key"},
            timeout=30,
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_groq_serves_n_of_one() -> None:
    with running(provider_sim("groq")) as server:
        answer = client_for(server).chat.completions.create(
            model="openai/gpt-oss-120b", messages=[{"role": "user", "content": "hi"}], n=1
        )
    assert isinstance(answer, openai.types.chat.ChatCompletion)
    assert len(answer.choices) == 1


def _complete(server: Any, **body: Any) -> httpx.Response:
    payload = {"model": "openai/gpt-oss-120b", "prompt": "2+2=", "max_tokens": 8, **body}
    return httpx.post(f"{server.base_url}/v1/completions", json=payload, timeout=30)


def test_vllm_completions_answer_n_choices_with_logprobs_and_offsets() -> None:
    with serve() as vllm:
        body = _complete(vllm, n=2, logprobs=2).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    total = 0
    for choice in body["choices"]:
        found = choice["logprobs"]
        assert "".join(found["tokens"]) == choice["text"]
        lengths = [len(t) for t in found["tokens"]]
        assert found["text_offset"] == [sum(lengths[:i]) for i in range(len(lengths))]
        for token, logprob, top in zip(
            found["tokens"], found["token_logprobs"], found["top_logprobs"], strict=True
        ):
            assert len(top) == 2 and next(iter(top.items())) == (token, logprob)
        total += len(found["tokens"])
    assert body["usage"]["completion_tokens"] == total


def test_vllm_completions_stream_each_choices_logprobs_with_running_offsets() -> None:
    with serve() as vllm:
        whole = _complete(vllm, n=2, logprobs=0).json()["choices"]
        seen = chunks(_complete(vllm, n=2, logprobs=0, stream=True))
    for index in (0, 1):
        mine = [c for chunk in seen for c in chunk["choices"] if c["index"] == index]
        tokens = [t for c in mine for t in c["logprobs"]["tokens"]]
        offsets = [o for c in mine for o in c["logprobs"]["text_offset"]]
        assert tokens == whole[index]["logprobs"]["tokens"]
        assert offsets == whole[index]["logprobs"]["text_offset"]
        assert all(len(top) == 1 for c in mine for top in c["logprobs"]["top_logprobs"])


@pytest.mark.parametrize(
    ("logprobs", "message"),
    [
        (-1, "`logprobs` must be a positive value."),
        (21, "Requested sample logprobs of 21, which is greater than max allowed: 20"),
    ],
)
def test_vllm_completions_refuse_logprobs_out_of_range(logprobs: int, message: str) -> None:
    with serve() as vllm:
        answer = _complete(vllm, logprobs=logprobs)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(message)
