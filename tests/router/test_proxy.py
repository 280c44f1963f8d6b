"""The request path against scripted upstreams (a loopback server per test)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import (
    APP_KEY,
    GROQ_KEY,
    MODEL,
    Upstreams,
    chat_reply,
    running_router,
    settings,
    sse,
)

from gptoss_router.settings import RouterSettings

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def refuse(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": "no", "type": "x", "param": None, "code": status}},
        headers=headers,
    )


async def test_a_local_pod_with_room_answers_and_the_model_name_is_kept() -> None:
    upstreams = Upstreams({"pod-a.test": lambda r: chat_reply(MODEL)})
    async with running_router(settings(), upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.headers["x-gptoss-backend"] == "local"
    assert response.json()["choices"][0]["message"]["content"] == "hello"


async def test_a_failing_pod_fails_over_to_the_cheapest_provider_under_its_own_id() -> None:
    upstreams = Upstreams(
        {
            "pod-a.test": lambda r: refuse(500),
            "groq.test": lambda r: chat_reply("openai/gpt-oss-120b"),
        }
    )
    async with running_router(settings(), upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200 and response.headers["x-gptoss-backend"] == "groq"
    assert response.json()["model"] == MODEL
    host, path, body, headers = upstreams.seen[-1]
    assert (host, path, body["model"]) == (
        "groq.test",
        "/v1/chat/completions",
        "openai/gpt-oss-120b",
    )
    assert headers["authorization"] == f"Bearer {GROQ_KEY}"


@pytest.mark.parametrize("status", [429, 498, 502, 503])
async def test_overload_statuses_move_on_to_the_next_candidate(status: int) -> None:
    upstreams = Upstreams(
        {
            "groq.test": lambda r: refuse(status),
            "fireworks.test": lambda r: chat_reply("x", reasoning_field="reasoning_content"),
        }
    )
    async with running_router(settings(pods=[]), upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert upstreams.hosts() == ["groq.test", "fireworks.test"]
    assert response.json()["choices"][0]["message"]["reasoning"] == "thinking"


async def test_a_client_error_from_the_backend_is_passed_on_in_openai_shape_without_retry() -> None:
    upstreams = Upstreams(
        {"pod-a.test": lambda r: refuse(400), "groq.test": lambda r: chat_reply("x")}
    )
    async with running_router(settings(), upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 400 and upstreams.hosts() == ["pod-a.test"]
    assert response.json()["error"]["code"] is None


async def test_when_every_candidate_is_rate_limited_the_client_gets_429_and_retry_after() -> None:
    upstreams = Upstreams(
        {
            "groq.test": lambda r: refuse(429, **{"retry-after": "7"}),
            "fireworks.test": lambda r: refuse(429, **{"retry-after": "3"}),
        }
    )
    async with running_router(settings(pods=[]), upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


def _spent_once(retry_after: str) -> Callable[[httpx.Request], httpx.Response]:
    """A provider whose first answer is 429 with ``retry_after``, and every later one a reply."""
    answers = iter([refuse(429, **{"retry-after": retry_after})])
    return lambda r: next(answers, None) or chat_reply("x")


async def test_with_only_spent_providers_left_a_request_waits_for_the_reset() -> None:
    upstreams = Upstreams({"groq.test": _spent_once("1"), "fireworks.test": _spent_once("1")})
    async with running_router(settings(pods=[]), upstreams) as client:
        first = await client.post("/v1/chat/completions", json=CHAT)
        second = await client.post("/v1/chat/completions", json=CHAT)
        metrics = (await client.get("/metrics")).text
    assert first.status_code == 429  # both answered 429: the client hears it
    assert second.status_code == 200  # both spent for a second: it waited for groq's reset
    assert upstreams.hosts() == ["groq.test", "fireworks.test", "groq.test"]
    assert f'gptoss_router_holds_total{{model="{MODEL}",outcome="released"}} 1.0' in metrics


async def test_a_reset_past_the_wait_is_answered_at_once_with_429_and_retry_after() -> None:
    upstreams = Upstreams({"groq.test": _spent_once("30"), "fireworks.test": _spent_once("20")})
    async with running_router(settings(pods=[]), upstreams) as client:
        await client.post("/v1/chat/completions", json=CHAT)
        second = await client.post("/v1/chat/completions", json=CHAT)
    assert upstreams.hosts() == ["groq.test", "fireworks.test"]  # neither was tried again
    assert second.status_code == 429
    assert second.json()["error"]["type"] == "rate_limit_error"
    assert second.headers["retry-after"] == "20"


async def test_a_provider_that_said_it_is_spent_is_not_tried_again_until_its_reset() -> None:
    upstreams = Upstreams(
        {
            "groq.test": lambda r: refuse(429, **{"retry-after": "60"}),
            "fireworks.test": lambda r: chat_reply("x"),
        }
    )
    async with running_router(settings(pods=[]), upstreams) as client:
        await client.post("/v1/chat/completions", json=CHAT)
        await client.post("/v1/chat/completions", json=CHAT)
        metrics = (await client.get("/metrics")).text
    assert upstreams.hosts() == ["groq.test", "fireworks.test", "fireworks.test"]
    assert 'gptoss_router_benched_backends{backend="groq",why="spent"} 1.0' in metrics
    assert 'gptoss_router_benched_backends{backend="fireworks",why="spent"} 0.0' in metrics


async def test_a_providers_429_for_one_model_leaves_it_serving_the_others() -> None:
    """Providers publish their rate limits per model: a 429 for gpt-oss-20b says nothing of
    gpt-oss-120b, which the provider keeps serving."""
    small = "gpt-oss-20b"

    def groq(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["model"]
        if asked == "openai/gpt-oss-20b":
            return refuse(429, **{"retry-after": "60"})
        return chat_reply(asked)

    groq_models = {
        MODEL: {"id": "openai/gpt-oss-120b", "price": {"input": 0.15, "output": 0.6}},
        small: {"id": "openai/gpt-oss-20b", "price": {"input": 0.1, "output": 0.5}},
    }
    one = settings(pods=[])
    config = RouterSettings.model_validate(
        {
            **one.model_dump(mode="json", exclude={"providers", "models"}),
            "models": {name: {"local": {"pods": []}} for name in (MODEL, small)},
            "providers": [
                {
                    "name": "groq",
                    "kind": "groq",
                    "base_url": "http://groq.test/v1",
                    "key": GROQ_KEY,
                    "models": groq_models,
                }
            ],
        }
    )
    upstreams = Upstreams({"groq.test": groq})
    async with running_router(config, upstreams) as client:
        refused = await client.post("/v1/chat/completions", json={**CHAT, "model": small})
        again = await client.post("/v1/chat/completions", json={**CHAT, "model": small})
        served = await client.post("/v1/chat/completions", json=CHAT)
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 429 and again.status_code == 429
    assert served.status_code == 200
    asked = [body["model"] for _host, _path, body, _headers in upstreams.seen]
    assert asked == ["openai/gpt-oss-20b", "openai/gpt-oss-120b"]  # the 20b not asked again
    assert 'gptoss_router_benched_backends{backend="groq",why="spent"} 1.0' in metrics


async def test_connect_errors_everywhere_give_502_in_openai_shape() -> None:
    async with running_router(settings(), Upstreams()) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_an_unknown_model_is_a_404_naming_the_model_parameter() -> None:
    async with running_router(settings(), Upstreams()) as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-5"})
    assert response.status_code == 404 and response.json()["error"]["param"] == "model"


async def test_a_provider_over_the_price_cap_is_never_used() -> None:
    upstreams = Upstreams(
        {"groq.test": lambda r: refuse(503), "fireworks.test": lambda r: chat_reply("x")}
    )
    capped = settings(pods=[], spillover={"max_price": {"output": 0.7}})
    async with running_router(capped, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503 and "fireworks.test" not in upstreams.hosts()


async def test_a_streamed_answer_is_relayed_and_the_unrequested_usage_chunk_dropped() -> None:
    chunks = sse(
        {"model": MODEL, "choices": [{"index": 0, "delta": {"content": "he"}}], "usage": None},
        {"model": MODEL, "choices": [{"index": 0, "delta": {"content": "llo"}}], "usage": None},
        {"model": MODEL, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        "[DONE]",
    )
    upstreams = Upstreams(
        {
            "pod-a.test": lambda r: httpx.Response(
                200, content=chunks, headers={"content-type": "text/event-stream"}
            )
        }
    )
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.text.count("data: ") == 3 and response.text.endswith("data: [DONE]\n\n")
    assert upstreams.seen[0][2]["stream_options"] == {"include_usage": True}
    assert (
        registry.get_sample_value(
            "gptoss_router_tokens_total",
            {"backend": "local", "direction": "output", "outcome": "ok"},
        )
        == 2
    )


async def test_a_stream_cut_short_ends_with_an_error_event_and_no_done() -> None:
    partial = sse({"model": MODEL, "choices": [{"index": 0, "delta": {"content": "he"}}]})
    upstreams = Upstreams({"pod-a.test": lambda r: httpx.Response(200, content=partial)})
    async with running_router(settings(), upstreams) as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    assert '"error"' in response.text.splitlines()[-2] and "[DONE]" not in response.text


async def test_app_keys_are_required_and_routes_limited_per_app() -> None:
    apps = [{"name": "chatbot", "key": APP_KEY, "routes": ["/v1/chat/completions"]}]
    upstreams = Upstreams({"pod-a.test": lambda r: chat_reply(MODEL)})
    async with running_router(settings(apps=apps), upstreams) as client:
        anonymous = await client.post("/v1/chat/completions", json=CHAT)
        wrong_route = await client.post(
            "/v1/completions",
            json={"model": MODEL, "prompt": "x"},
            headers={"authorization": f"Bearer {APP_KEY}"},
        )
        allowed = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {APP_KEY}"}
        )
    assert (anonymous.status_code, wrong_route.status_code, allowed.status_code) == (401, 403, 200)


async def test_an_app_that_strips_chain_of_thought_never_sees_reasoning() -> None:
    apps = [{"name": "public", "key": APP_KEY, "strip_reasoning": True}]
    upstreams = Upstreams({"pod-a.test": lambda r: chat_reply(MODEL)})
    async with running_router(settings(apps=apps), upstreams) as client:
        response = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {APP_KEY}"}
        )
    assert "reasoning" not in response.json()["choices"][0]["message"]


async def test_the_hosted_only_header_skips_a_pod_with_room() -> None:
    upstreams = Upstreams(
        {"pod-a.test": lambda r: chat_reply(MODEL), "groq.test": lambda r: chat_reply("x")}
    )
    async with running_router(settings(), upstreams) as client:
        response = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"x-gptoss-route": "hosted"}
        )
    assert upstreams.hosts() == ["groq.test"] and response.status_code == 200


async def test_an_app_not_allowed_hosted_cannot_ask_for_it() -> None:
    apps = [{"name": "onprem", "key": APP_KEY, "hosted": False}]
    async with running_router(settings(apps=apps), Upstreams()) as client:
        response = await client.post(
            "/v1/chat/completions",
            json=CHAT,
            headers={"authorization": f"Bearer {APP_KEY}", "x-gptoss-route": "hosted"},
        )
    assert response.status_code == 403


async def test_a_malformed_max_price_header_names_the_header() -> None:
    async with running_router(settings(), Upstreams()) as client:
        response = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"x-gptoss-max-price": "cheap"}
        )
    assert response.status_code == 400 and response.json()["error"]["param"] == "x-gptoss-max-price"


async def test_repeated_failures_eject_a_pod_and_the_ejection_is_counted() -> None:
    registry = CollectorRegistry()
    upstreams = Upstreams(
        {"pod-a.test": lambda r: refuse(500), "groq.test": lambda r: chat_reply("x")}
    )
    async with running_router(
        settings(tuning={"consecutive_failures": 2}), upstreams, registry
    ) as client:
        for _ in range(3):
            await client.post("/v1/chat/completions", json=CHAT)
    assert upstreams.hosts() == ["pod-a.test", "groq.test", "pod-a.test", "groq.test", "groq.test"]
    assert registry.get_sample_value("gptoss_router_ejections_total", {"backend": "local"}) == 1


async def test_models_health_readiness_openapi_and_metrics_answer() -> None:
    async with running_router(settings(), Upstreams()) as client:
        models = (await client.get("/v1/models")).json()
        statuses = [
            (await client.get(p)).status_code for p in ("/healthz", "/readyz", "/metrics", "/spill")
        ]
        document = (await client.get("/openapi.json")).json()
    assert [m["id"] for m in models["data"]] == [MODEL]
    assert statuses == [200, 200, 200, 200]
    assert "/v1/responses" in document["paths"]
