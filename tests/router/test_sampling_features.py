"""Requests for several choices, token logprobs or a logit bias go only to backends that serve
them: Groq answers 400 to each (its OpenAI compatibility page), so they spill past it even where
it is the cheapest; what it refuses only by its presence (``logprobs: false``, a message's
``name``) is removed instead. The official openai SDK against the router, with simulated vLLM
pods and providers upstream.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from live import LiveRouter, fleet, live_router, router_settings
from router_fakes import MODEL as MODEL_ID
from router_fakes import Upstreams, chat_reply, running_router
from router_fakes import settings as fake_settings
from test_end_to_end import client_for, wait_until_local_ready

from gptoss_router.config.providers import ProviderKind
from gptoss_router.openai.dialects import dialect_for
from gptoss_router.openai.inbound import inbound_of
from gptoss_router.openai.outbound import outbound_body

pytestmark = pytest.mark.timeout(60)
MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]
# Groq the cheapest, so it is the first choice of everything it can serve.
PRICES = {"groq": (0.05, 0.20), "fireworks": (0.07, 0.30), "together": (0.15, 0.60)}


@pytest.mark.parametrize(
    ("route", "extra", "features"),
    [
        ("chat", {"n": 2}, {"choices"}),
        ("chat", {"n": 1}, set()),
        ("chat", {"logprobs": True}, {"logprobs"}),
        ("chat", {"logprobs": False}, set()),
        ("chat", {"logit_bias": {"50256": -100}}, {"logit_bias"}),
        ("chat", {"logit_bias": {}}, set()),
        ("chat", {"frequency_penalty": 0.5}, {"penalties"}),
        ("chat", {"presence_penalty": 0}, set()),
        ("completions", {"logprobs": 0}, {"logprobs"}),
        ("completions", {"n": "3"}, {"choices"}),
    ],
)
def test_a_request_names_the_sampling_it_asks_of_a_backend(
    route: str, extra: dict[str, Any], features: set[str]
) -> None:
    body = {"model": "m", "messages" if route == "chat" else "prompt": MESSAGES, **extra}
    if route == "completions":
        body["prompt"] = "2+2="
    found = inbound_of(route, body, 100).features  # type: ignore[arg-type]
    sampling = {"choices", "logprobs", "logit_bias", "penalties"}
    assert found & sampling == features


def test_groq_is_sent_no_message_names_and_no_logprobs_that_ask_for_nothing() -> None:
    payload = {
        "model": "gpt-oss-120b",
        "messages": [{"role": "user", "content": "hi", "name": "ann"}],
        "logprobs": False,
        "top_logprobs": 0,
        "logit_bias": {},
        "temperature": 0.5,
    }
    inbound = inbound_of("chat", payload, 100)
    groq = outbound_body(
        inbound, b"{}", model_id="openai/gpt-oss-120b", dialect=dialect_for(ProviderKind.GROQ)
    )
    fireworks = outbound_body(
        inbound, b"{}", model_id="m", dialect=dialect_for(ProviderKind.FIREWORKS)
    )
    sent = json.loads(groq)
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert not {"logprobs", "top_logprobs", "logit_bias"} & sent.keys()
    assert sent["temperature"] == 0.5
    kept = json.loads(fireworks)
    assert kept["messages"][0]["name"] == "ann" and kept["logprobs"] is False


async def _served_by(client: openai.AsyncOpenAI, **extra: Any) -> tuple[str, Any]:
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-oss-120b", **{"messages": MESSAGES, **extra}
    )
    return raw.headers["x-gptoss-backend"], raw.parse()


async def test_logprobs_choices_and_a_bias_spill_past_groq_to_a_provider_serving_them() -> None:
    with fleet() as sims:
        config = router_settings(sims, local={"pods": []}, prices=PRICES)
        async with live_router(config) as router, client_for(router) as client:
            plain, _ = await _served_by(client)
            named, _ = await _served_by(
                client, messages=[{"role": "user", "content": "2+2?", "name": "ann"}]
            )
            unset, _ = await _served_by(client, logprobs=False)
            logprobs, with_logprobs = await _served_by(client, logprobs=True, top_logprobs=2)
            choices, with_choices = await _served_by(client, n=2)
            biased, _ = await _served_by(client, logit_bias={"1": 1})
    assert (plain, named, unset) == ("groq", "groq", "groq")
    assert (logprobs, choices, biased) == ("fireworks", "fireworks", "fireworks")
    content = with_logprobs.choices[0].logprobs.content
    assert content and all(len(entry.top_logprobs) == 2 for entry in content)
    assert [c.index for c in with_choices.choices] == [0, 1]


async def _local(router: LiveRouter) -> openai.AsyncOpenAI:
    await wait_until_local_ready(router)
    return client_for(router)


async def test_a_pods_logprobs_and_choices_reach_the_client_whole_and_streamed() -> None:
    with fleet() as sims:
        async with live_router(router_settings(sims)) as router:
            client = await _local(router)
            async with client:
                gathered, whole = await _served_by(client, logprobs=True)
                several, choices = await _served_by(client, n=2)
                stream = await client.chat.completions.create(
                    model="gpt-oss-120b",
                    messages=MESSAGES,
                    n=2,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                texts: dict[int, str] = {}
                usage = None
                async for chunk in stream:
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        texts[choice.index] = texts.get(choice.index, "") + (
                            choice.delta.content or ""
                        )
    assert (gathered, several) == ("local", "local")
    # vLLM lists every generated token's logprob, the reasoning's too; the router's gathered
    # answer keeps them all.
    assert len(whole.choices[0].logprobs.content) == whole.usage.completion_tokens
    assert [c.index for c in choices.choices] == [0, 1]
    assert choices.choices[0].message.content != choices.choices[1].message.content
    assert sorted(texts) == [0, 1] and all(texts.values())
    assert usage is not None and usage.completion_tokens > 0


async def test_a_request_only_the_pods_serve_waits_for_one_and_says_why_it_did_not_spill() -> None:
    with fleet() as sims:
        config = router_settings(sims, local={"pods": []}, tuning={"hold_timeout_s": 0.3})
        only_groq = [p for p in config.providers if p.name == "groq"]
        config = config.model_copy(update={"providers": only_groq})
        async with live_router(config) as router, client_for(router) as client:
            with pytest.raises(openai.APIStatusError) as refused:
                await client.chat.completions.create(
                    model="gpt-oss-120b", messages=MESSAGES, logprobs=True, n=2
                )
            timeouts = router.registry.get_sample_value(
                "gptoss_router_holds_total", {"model": "gpt-oss-120b", "outcome": "timeout"}
            )
    assert refused.value.status_code == 503
    assert refused.value.message.endswith(
        "and no provider it may spill to serves logprobs, n above 1."
    )
    assert timeouts == 1


async def test_an_app_limit_reserves_the_tokens_of_every_choice() -> None:
    """Each of ``n`` choices may generate ``max_tokens``: admission reserves them all, so a
    request for more than the app's tokens per minute is told so before anything runs."""
    apps = [{"name": "app", "key": "app-key-1", "limits": {"tokens_per_minute": 1000}}]
    upstreams = Upstreams({"pod-a.test": lambda request: chat_reply(MODEL_ID)})
    body = {"model": MODEL_ID, "messages": MESSAGES, "max_tokens": 400}
    auth = {"authorization": "Bearer app-key-1"}
    async with running_router(fake_settings(apps=apps, providers=[]), upstreams) as client:
        one = await client.post("/v1/chat/completions", json=body, headers=auth)
        three = await client.post("/v1/chat/completions", json={**body, "n": 3}, headers=auth)
    assert one.status_code == 200
    assert three.status_code == 429
    assert "Request too large" in three.json()["error"]["message"]
    assert upstreams.hosts() == ["pod-a.test"]


def test_the_most_a_request_may_generate_is_max_tokens_for_each_choice() -> None:
    body = {"model": "m", "messages": MESSAGES, "n": 3}
    assert inbound_of("chat", {**body, "max_tokens": 100}, 100).most_output(50) == 300
    assert inbound_of("chat", body, 100).most_output(50) == 150
    assert inbound_of("chat", {**body, "n": "x"}, 100).most_output(50) == 50
