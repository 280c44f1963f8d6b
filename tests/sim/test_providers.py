"""The official openai SDK against each hosted-provider simulator, and each provider's quirks."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel

from gptoss_sim import FIREWORKS, GROQ, OPENAI_COMPATIBLE, TOGETHER, Limits, running
from gptoss_sim.providers.profiles import PROFILES
from tests.sim.conftest import client_for, provider_sim

HELLO = [{"role": "user", "content": "Hello provider"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}


def model_of(kind: str) -> str:
    return next(iter(PROFILES[kind].models))


@pytest.fixture(params=sorted(PROFILES))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, openai.OpenAI]]:
    with running(provider_sim(request.param)) as server:
        yield request.param, client_for(server)


class Answer(BaseModel):
    text: str
    score: int


def test_every_provider_serves_sync_stream_tools_and_structured_output(
    provider: tuple[str, openai.OpenAI],
) -> None:
    kind, client = provider
    model = model_of(kind)
    assert client.chat.completions.create(model=model, messages=HELLO).choices[0].message.content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=model, messages=HELLO, stream=True)
        if c.choices
    )
    assert streamed
    call = (
        client.chat.completions.create(model=model, messages=HELLO, tools=[TOOL])
        .choices[0]
        .message.tool_calls[0]
    )
    assert json.loads(call.function.arguments) == {"q": "simulated"}
    parsed = client.chat.completions.parse(model=model, messages=HELLO, response_format=Answer)
    assert isinstance(parsed.choices[0].message.parsed, Answer)
    assert [m.id for m in client.models.list().data] == list(PROFILES[kind].models)


async def test_every_provider_answers_the_async_client(provider: tuple[str, openai.OpenAI]) -> None:
    kind, sync_client = provider
    async with openai.AsyncOpenAI(
        base_url=str(sync_client.base_url), api_key="k", max_retries=0
    ) as client:
        reply = await client.chat.completions.create(model=model_of(kind), messages=HELLO)
    assert reply.choices[0].message.content


@pytest.mark.parametrize(
    ("profile", "prefix", "field"),
    [
        # Base URLs and reasoning fields: docs/sources.md, Providers.
        (GROQ, "/openai/v1", "reasoning"),
        (FIREWORKS, "/inference/v1", "reasoning_content"),
        (TOGETHER, "/v1", "reasoning"),
        (OPENAI_COMPATIBLE, "/v1", "reasoning"),
    ],
)
def test_each_provider_has_its_base_path_and_reasoning_field(
    profile: object, prefix: str, field: str
) -> None:
    kind = profile.kind
    with running(provider_sim(kind)) as server:
        assert server.openai_base_url.endswith(prefix)
        message = (
            client_for(server)
            .chat.completions.create(model=model_of(kind), messages=HELLO)
            .choices[0]
            .message
        )
    assert (message.model_extra or {})[field]


def test_provider_model_ids_and_prices_are_data() -> None:
    # docs/sources.md, Providers: ids and prices per 1M tokens for gpt-oss-120b.
    assert "accounts/fireworks/models/gpt-oss-120b" in FIREWORKS.models
    assert GROQ.prices["openai/gpt-oss-120b"].output_per_mtok == 0.60
    assert TOGETHER.prices["openai/gpt-oss-20b"].input_per_mtok == 0.05


def test_groq_rejects_reasoning_content_in_input_messages() -> None:
    # docs/sources.md, Providers: "property 'reasoning_content' is unsupported"
    # (agentjido/req_llm #772).
    history = [
        *HELLO,
        {"role": "assistant", "content": "hi", "reasoning_content": "thought"},
        *HELLO,
    ]
    with (
        running(provider_sim("groq")) as server,
        pytest.raises(openai.BadRequestError, match="reasoning_content"),
    ):
        client_for(server).chat.completions.create(model=model_of("groq"), messages=history)


def test_groq_rejects_json_mode_together_with_tools() -> None:
    # docs/sources.md, Providers (pydantic-ai PR #3858 discussion).
    with running(provider_sim("groq")) as server, pytest.raises(openai.BadRequestError):
        client_for(server).chat.completions.create(
            model=model_of("groq"),
            messages=HELLO,
            tools=[TOOL],
            response_format={"type": "json_object"},
        )


def test_groq_hides_or_inlines_reasoning_by_reasoning_format() -> None:
    # docs/sources.md, Providers: Groq reasoning_format parsed/raw/hidden.
    with running(provider_sim("groq")) as server:
        client = client_for(server)
        hidden = client.chat.completions.create(
            model=model_of("groq"), messages=HELLO, extra_body={"reasoning_format": "hidden"}
        )
        raw = client.chat.completions.create(
            model=model_of("groq"), messages=HELLO, extra_body={"reasoning_format": "raw"}
        )
    assert "reasoning" not in (hidden.choices[0].message.model_extra or {})
    assert (raw.choices[0].message.content or "").startswith("<think>")


def test_groq_answers_429_with_retry_after_and_its_rate_limit_headers() -> None:
    # docs/sources.md, Providers: Groq 429 rate_limit_exceeded, retry-after only on 429.
    with running(provider_sim("groq", limits=Limits(requests=1, request_window_s=60))) as server:
        client = client_for(server)
        ok = client.chat.completions.with_raw_response.create(
            model=model_of("groq"), messages=HELLO
        )
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model=model_of("groq"), messages=HELLO)
    assert ok.headers["x-ratelimit-limit-requests"] == "1"
    assert ok.headers["x-ratelimit-remaining-requests"] == "0"
    assert "retry-after" not in ok.headers
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert caught.value.body["code"] == "rate_limit_exceeded"


def test_groq_flex_tier_answers_498_when_capacity_is_exceeded() -> None:
    # docs/sources.md, Providers: 498 capacity_exceeded with service_tier "flex".
    with running(provider_sim("groq", limits=Limits(capacity=0))) as server:
        client = client_for(server)
        with pytest.raises(openai.APIStatusError) as flex:
            client.chat.completions.create(
                model=model_of("groq"), messages=HELLO, service_tier="flex"
            )
        with pytest.raises(openai.InternalServerError) as on_demand:
            client.chat.completions.create(model=model_of("groq"), messages=HELLO)
    assert flex.value.status_code == 498
    assert on_demand.value.status_code == 503


def test_fireworks_answers_503_service_overloaded_when_full() -> None:
    # docs/sources.md, Providers: Fireworks 503 "Service Overloaded" on serverless.
    full = provider_sim("fireworks", limits=Limits(capacity=0))
    overloaded = pytest.raises(openai.InternalServerError, match="Service Overloaded")
    with running(full) as server, overloaded as caught:
        client_for(server).chat.completions.create(model=model_of("fireworks"), messages=HELLO)
    assert caught.value.status_code == 503
    assert "x-ratelimit-limit-tokens-prompt" in caught.value.response.headers


def test_together_answers_503_within_its_dynamic_rate_and_429_above_it() -> None:
    # docs/sources.md, Providers: Together 503 at or below the dynamic rate, 429 above it.
    tight = Limits(requests=1, request_window_s=60, tokens=10_000, token_window_s=60, capacity=0)
    with running(provider_sim("together", limits=tight)) as server:
        client = client_for(server)
        with pytest.raises(openai.InternalServerError) as below:
            client.chat.completions.create(model=model_of("together"), messages=HELLO)
    assert below.value.status_code == 503
    spent = Limits(requests=0, request_window_s=60, tokens=10_000, token_window_s=60, capacity=0)
    limited = pytest.raises(openai.RateLimitError)
    with running(provider_sim("together", limits=spent)) as server, limited as above:
        client_for(server).chat.completions.create(model=model_of("together"), messages=HELLO)
    assert above.value.body["type"] == "dynamic_request_limited"
    assert "x-ratelimit-limit-dynamic" in above.value.response.headers


def test_providers_refuse_requests_without_an_api_key() -> None:
    with running(provider_sim("together")) as server:
        status = httpx.post(f"{server.openai_base_url}/chat/completions", json={}).status_code
    assert status == 401


def test_fireworks_responses_are_stateful_and_groq_and_together_are_not() -> None:
    # docs/sources.md, Providers: Fireworks stateful; Groq and Together not.
    with running(provider_sim("fireworks")) as server:
        client = client_for(server)
        first = client.responses.create(model=model_of("fireworks"), input="remember me")
        follow = client.responses.create(
            model=model_of("fireworks"), input="again", previous_response_id=first.id
        )
        assert client.responses.retrieve(first.id).id == first.id
    assert follow.usage is not None and first.usage is not None
    assert follow.usage.input_tokens > first.usage.total_tokens
    for kind in ("groq", "together"):
        with running(provider_sim(kind)) as server, pytest.raises(openai.BadRequestError):
            client_for(server).responses.create(
                model=model_of(kind), input="x", previous_response_id="resp_1"
            )


def test_a_providers_times_to_first_token_spread_log_normally_around_its_published_one() -> None:
    sim = provider_sim("fireworks", ttft_sigma=0.55, seed=4)
    draws = sorted(sim.ttft_s() for _ in range(4000))
    published = sim.profile.ttft_s
    median = draws[len(draws) // 2]
    p95 = draws[int(len(draws) * 0.95)]
    assert abs(median / published - 1) < 0.05
    assert abs(p95 / (published * math.exp(0.55 * 1.6449)) - 1) < 0.1
    first, second = (provider_sim("fireworks", ttft_sigma=0.55, seed=4) for _ in range(2))
    assert [first.ttft_s() for _ in range(5)] == [second.ttft_s() for _ in range(5)]


def test_a_provider_without_a_spread_answers_at_its_published_time_to_first_token() -> None:
    sim = provider_sim("groq")
    assert {sim.ttft_s() for _ in range(10)} == {sim.profile.ttft_s}
