"""The router owns Responses state: stored responses, follow-up turns on any backend, the
endpoints that read them, and Responses served through Chat Completions where needed."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from tests import waiting
from tests.router.agentic import (
    APPS,
    HOSTED,
    LOCAL,
    MODEL,
    WEATHER,
)
from tests.router.agentic import async_client as _async_client
from tests.router.agentic import call_output as _call_output
from tests.router.agentic import client as _client
from tests.router.agentic import weather_agent as _weather_agent
from tests.router.agentic import with_store as _with_store
from tests.router.live import fleet, live_router, router_in_thread, router_settings

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.openai.responses_state import item_page, stored_items
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.responses import Record

# -- pure pieces -----------------------------------------------------------------------------


async def test_the_memory_store_keeps_documents_until_their_ttl() -> None:
    store = MemoryStore()
    await store.put_document("resp:a:1", b"one", 60)
    await store.put_document("resp:a:2", b"two", 0.01)
    await asyncio.sleep(0.02)
    kept = await store.get_document("resp:a:1")
    assert kept is not None and kept.value == b"one"
    assert await store.get_document("resp:a:2") is None
    assert await store.delete_document("resp:a:1")
    assert not await store.delete_document("resp:a:1")


def test_a_record_rehydrates_earlier_turns_then_its_input_then_its_output() -> None:
    record = Record(
        prior=[{"id": "msg_0"}],
        input=[{"id": "msg_1"}],
        response={"id": "resp_1", "output": [{"id": "rs_1"}, {"id": "fc_1"}]},
    )
    assert [i["id"] for i in Record.decode(record.encode()).history()] == [
        "msg_0",
        "msg_1",
        "rs_1",
        "fc_1",
    ]


def test_input_items_get_ids_and_text_parts_and_list_a_page_at_a_time() -> None:
    items = stored_items([{"role": "user", "content": f"m{i}"} for i in range(5)])
    assert all(i["type"] == "message" and i["id"].startswith("msg_") for i in items)
    assert items[0]["content"] == [{"type": "input_text", "text": "m0"}]
    page = item_page(items, limit=2, order="asc", after=items[1]["id"])
    assert [i["content"][0]["text"] for i in page["data"]] == ["m2", "m3"]
    assert page["has_more"] and page["first_id"] == items[2]["id"]
    last = item_page(items, limit=10, order="desc", after=None)
    assert last["data"][0] is items[-1] and not last["has_more"]


# -- the official SDK against the simulators ---------------------------------------------------


def test_a_tool_call_chain_alternates_between_the_local_pod_and_a_provider() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        raw = client.responses.with_raw_response.create(
            model=MODEL, input="What is the weather in Paris?", tools=[WEATHER], extra_headers=LOCAL
        )
        first = raw.parse()
        assert raw.headers["x-gptoss-backend"] == "local"
        assert first.id.startswith("resp_") and first.store
        assert [item.type for item in first.output] == ["reasoning", "function_call"]

        raw = client.responses.with_raw_response.create(
            model=MODEL,
            previous_response_id=first.id,
            input=[_call_output(first)],
            tools=[WEATHER],
            extra_headers=HOSTED,
        )
        second = raw.parse()
        assert raw.headers["x-gptoss-backend"] != "local"
        assert second.previous_response_id == first.id
        assert second.output_text

        third = client.responses.create(
            model=MODEL, previous_response_id=second.id, input="And tomorrow?", extra_headers=LOCAL
        )
        assert third.output_text and third.previous_response_id == second.id

        # What the provider got was the whole conversation: reasoning, the call and its output.
        assert client.responses.retrieve(second.id).output_text == second.output_text
        items = client.responses.input_items.list(second.id)
        assert [item.type for item in items.data] == ["function_call_output"]


def test_a_tool_output_for_a_call_nobody_made_is_refused_and_nothing_is_kept() -> None:
    """OpenAI answers 400 for a function_call_output whose call_id no earlier function_call has
    (vLLM could not render it either); a typo'd id must not be served, or kept to be replayed."""
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        first = client.responses.create(
            model=MODEL, input="What is the weather in Paris?", tools=[WEATHER], extra_headers=LOCAL
        )
        stray = {"type": "function_call_output", "call_id": "call_typo", "output": "sunny"}
        for headers in (LOCAL, HOSTED):
            with pytest.raises(openai.BadRequestError) as refused:
                client.responses.create(
                    model=MODEL,
                    previous_response_id=first.id,
                    input=[stray],
                    tools=[WEATHER],
                    extra_headers=headers,
                )
            error = refused.value.body
            assert isinstance(error, dict) and error["param"] == "input"
            assert error["message"] == (
                "No tool call found for function call output with call_id call_typo."
            )
        # stateless: the call must be in the input itself, before or beside its output
        call = next(item for item in first.output if item.type == "function_call")
        answered = client.responses.create(
            model=MODEL,
            store=False,
            input=[call.model_dump(exclude_none=True), _call_output(first)],
            tools=[WEATHER],
            extra_headers=LOCAL,
        )
        assert answered.output_text
        conversation = client.conversations.create()
        with pytest.raises(openai.BadRequestError):
            client.responses.create(
                model=MODEL, conversation=conversation.id, input=[stray], extra_headers=LOCAL
            )
        assert client.conversations.items.list(conversation.id).data == []


def test_a_response_repeats_the_requests_metadata_and_settings_whoever_served_it() -> None:
    """The stored response is the router's: a provider whose Responses API does not echo
    metadata or sampling settings must not make the client's metadata vanish."""
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        for headers in (LOCAL, HOSTED):
            made = client.responses.create(
                model=MODEL,
                input="hi",
                metadata={"order": "42"},
                temperature=0.3,
                max_output_tokens=500,
                extra_headers=headers,
            )
            kept = client.responses.retrieve(made.id)
            for response in (made, kept):
                assert response.metadata == {"order": "42"}
                assert response.temperature == pytest.approx(0.3)
                assert response.max_output_tokens == 500


def test_retrieve_delete_and_input_items_answer_for_the_app_that_stored_the_response() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        shop, blog = _client(url), _client(url, "blog-key-2")
        made = shop.responses.create(
            model=MODEL,
            input=[{"role": "user", "content": f"line {i}"} for i in range(3)],
            metadata={"order": "42"},
        )
        got = shop.responses.retrieve(made.id)
        assert got.id == made.id and got.status == "completed" and got.metadata == {"order": "42"}
        assert got.usage is not None and got.output_text == made.output_text

        page = shop.responses.input_items.list(made.id, limit=2, order="asc")
        assert [item.content[0].text for item in page.data] == ["line 0", "line 1"]  # type: ignore[union-attr]
        assert page.has_more
        everything = [item.id for item in shop.responses.input_items.list(made.id, order="asc")]
        assert len(everything) == 3

        with pytest.raises(openai.NotFoundError) as other_app:
            blog.responses.retrieve(made.id)
        assert other_app.value.body == {
            "message": f"Response with id '{made.id}' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        with pytest.raises(openai.BadRequestError) as follow_up:
            blog.responses.create(model=MODEL, previous_response_id=made.id, input="hi")
        assert isinstance(follow_up.value.body, dict)
        assert follow_up.value.body["code"] == "previous_response_not_found"
        assert follow_up.value.body["param"] == "previous_response_id"
        with pytest.raises(openai.NotFoundError):
            blog.responses.delete(made.id)

        shop.responses.delete(made.id)
        with pytest.raises(openai.NotFoundError):
            shop.responses.retrieve(made.id)
        with pytest.raises(openai.NotFoundError):
            shop.responses.input_items.list(made.id)

        kept_out = shop.responses.create(model=MODEL, input="do not keep", store=False)
        assert kept_out.store is False
        with pytest.raises(openai.NotFoundError):
            shop.responses.retrieve(kept_out.id)


def test_an_app_that_may_not_see_reasoning_still_gets_it_carried_to_its_next_turn() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        quiet = _client(url, "quiet-key-3")
        first = quiet.responses.create(model=MODEL, input="Weather in Oslo?", tools=[WEATHER])
        assert [item.type for item in first.output] == ["function_call"]
        assert [item.type for item in quiet.responses.retrieve(first.id).output] == [
            "function_call"
        ]
        second = quiet.responses.create(
            model=MODEL, previous_response_id=first.id, input=[_call_output(first)]
        )
        assert second.output_text


def test_unknown_paths_wrong_methods_and_single_models_answer_in_openais_shape() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        auth = {"authorization": "Bearer shop-key-1"}
        missing = httpx.get(f"{url}/v1/no/such/thing", headers=auth)
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {
                "message": "Invalid URL (GET /v1/no/such/thing)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        wrong = httpx.get(f"{url}/v1/chat/completions", headers=auth)
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["error"]["type"] == "invalid_request_error"

        client = _client(url)
        assert client.models.retrieve(MODEL).id == MODEL
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-oss-7b")
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_never_made")
        with pytest.raises(openai.AuthenticationError):
            _client(url, "wrong-key").responses.retrieve("resp_never_made")


def test_a_conversation_over_the_size_bound_is_refused_naming_the_limit() -> None:
    with fleet() as found:
        settings = router_settings(found, apps=APPS, tuning={"responses_max_bytes": 4096})
        with router_in_thread(settings) as (url, _):
            client = _client(url)
            first = client.responses.create(model=MODEL, input="x" * 1500)
            with pytest.raises(openai.BadRequestError) as too_big:
                client.responses.create(
                    model=MODEL, previous_response_id=first.id, input="y" * 2500
                )
            assert "tuning.responses_max_bytes" in too_big.value.message
            assert "4096" in too_big.value.message
            # Not kept, so not bounded.
            client.responses.create(
                model=MODEL, previous_response_id=first.id, input="y" * 2500, store=False
            )


async def test_a_streamed_turn_with_function_tools_spills_through_chat_completions() -> None:
    with fleet() as found:
        # Groq and Together have no streamed function calls on /v1/responses: only the
        # translation lets them take this request.
        settings = router_settings(found, apps=APPS, spillover={"providers": ["groq"]})
        async with (
            live_router(settings) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="shop-key-1", max_retries=0
            ) as client,
        ):
            first = await client.responses.create(
                model=MODEL, input="Weather in Rome?", tools=[WEATHER], extra_headers=LOCAL
            )
            raw = await client.responses.with_raw_response.create(
                model=MODEL,
                previous_response_id=first.id,
                input=[_call_output(first), {"role": "user", "content": "And Milan?"}],
                tools=[WEATHER],
                stream=True,
                extra_headers=HOSTED,
            )
            assert raw.headers["x-gptoss-backend"] == "groq"
            events = [event async for event in raw.parse()]
            assert events[0].type == "response.created"
            done = events[-1]
            assert done.type == "response.completed"
            assert done.response.previous_response_id == first.id
            assert any(e.type == "response.function_call_arguments.delta" for e in events)
            kept = await client.responses.retrieve(done.response.id)
            assert [item.type for item in kept.output] == [i.type for i in done.response.output]

            third = await client.responses.create(
                model=MODEL,
                previous_response_id=done.response.id,
                input=[_call_output(done.response)],
                tools=[WEATHER],
                extra_headers=LOCAL,
            )
            assert third.output_text


# -- two routers, one Redis --------------------------------------------------------------------


async def test_turn_two_goes_through_the_other_router_sharing_one_redis(
    redis_server: RedisServer,
) -> None:
    with fleet() as found:
        settings = _with_store(router_settings(found, apps=APPS), redis_server)
        async with (
            live_router(settings) as one,
            live_router(settings) as two,
            openai.AsyncOpenAI(
                base_url=f"{one.base_url}/v1", api_key="shop-key-1", max_retries=0
            ) as first_client,
            openai.AsyncOpenAI(
                base_url=f"{two.base_url}/v1", api_key="shop-key-1", max_retries=0
            ) as other_client,
        ):
            first = await first_client.responses.create(
                model=MODEL, input="Weather in Lyon?", tools=[WEATHER]
            )
            second = await other_client.responses.create(
                model=MODEL, previous_response_id=first.id, input=[_call_output(first)]
            )
            assert second.output_text and second.previous_response_id == first.id
            assert (await first_client.responses.retrieve(second.id)).id == second.id

            redis_server.kill()
            with pytest.raises(openai.APIStatusError) as down:
                await other_client.responses.create(
                    model=MODEL, previous_response_id=second.id, input="more"
                )
            assert down.value.status_code == 503
            assert down.value.response.headers["retry-after"]
            stateless = await other_client.responses.create(
                model=MODEL, input="still served", store=False
            )
            assert stateless.output_text


# -- other clients --------------------------------------------------------------------------------


def test_the_agents_sdk_runs_a_function_tool_through_the_router() -> None:
    from agents import RunConfig, Runner, set_tracing_disabled

    set_tracing_disabled(True)
    asked: list[str] = []

    async def run(url: str) -> None:
        async with _async_client(url) as client:
            agent = _weather_agent(client, asked)
            config = RunConfig(tracing_disabled=True)
            result = await Runner.run(agent, "Weather in Paris?", run_config=config)
            assert result.final_output
            streamed = Runner.run_streamed(agent, "Weather in Berlin?", run_config=config)
            kinds = [event.type async for event in streamed.stream_events()]
        assert "raw_response_event" in kinds and streamed.final_output

    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        asyncio.run(run(url))
    assert len(asked) == 2


def test_langchain_uses_the_responses_api_with_tools_through_the_router() -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        llm = ChatOpenAI(
            model=MODEL,
            base_url=f"{url}/v1",
            api_key="shop-key-1",  # type: ignore[arg-type]
            use_responses_api=True,
            max_retries=0,
        ).bind_tools([WEATHER])
        question = HumanMessage("Weather in Madrid?")
        asked = llm.invoke([question])
        assert asked.tool_calls and asked.tool_calls[0]["name"] == "get_weather"  # type: ignore[attr-defined]
        answer = llm.invoke(
            [question, asked, ToolMessage("sunny", tool_call_id=asked.tool_calls[0]["id"])]  # type: ignore[attr-defined]
        )
        assert answer.content


# -- background responses ------------------------------------------------------------------------


def test_a_background_response_is_queued_then_completed_and_retrieve_reports_it() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        queued = client.responses.create(model=MODEL, input="Summarise a book.", background=True)
        assert queued.status in ("queued", "in_progress") and queued.background
        deadline = time.monotonic() + 10
        got = client.responses.retrieve(queued.id)
        while got.status in ("queued", "in_progress") and time.monotonic() < deadline:
            time.sleep(0.05)
            got = client.responses.retrieve(queued.id)
        assert got.status == "completed" and got.output_text and got.background
        follow_up = client.responses.create(
            model=MODEL, previous_response_id=queued.id, input="Shorter."
        )
        assert follow_up.output_text
        with pytest.raises(openai.BadRequestError):
            client.responses.cancel(queued.id)  # already completed
        with pytest.raises(openai.BadRequestError):
            client.responses.create(model=MODEL, input="x", background=True, store=False)


def test_cancelling_a_background_response_stops_it_and_it_stays_cancelled() -> None:
    with (
        fleet(step_s=0.05) as found,
        router_in_thread(router_settings(found, apps=APPS)) as (
            url,
            _,
        ),
    ):
        client = _client(url)
        queued = client.responses.create(
            model=MODEL, input="A long story.", background=True, max_output_tokens=2000
        )
        cancelled = client.responses.cancel(queued.id)
        assert cancelled.status == "cancelled"
        engine = found.vllm.engine
        assert engine is not None
        # Once the pod has stopped generating, nothing is left that could still finish it.
        waiting.eventually(lambda: engine.num_running == 0 or None, timeout=10, what="generation")
        assert client.responses.retrieve(queued.id).status == "cancelled"
        with pytest.raises(openai.BadRequestError):
            client.responses.cancel(client.responses.create(model=MODEL, input="hi").id)


def test_a_background_response_over_its_apps_rate_limit_is_refused_when_submitted() -> None:
    apps = [{"name": "shop", "key": "shop-key-1", "limits": {"requests_per_minute": 1}}]
    with fleet() as found, router_in_thread(router_settings(found, apps=apps)) as (url, _):
        client = _client(url)
        first = client.responses.create(model=MODEL, input="Summarise a book.", background=True)
        assert first.status in ("queued", "in_progress")
        with pytest.raises(openai.RateLimitError) as refused:
            client.responses.create(model=MODEL, input="And another.", background=True)
        assert refused.value.code == "rate_limit_exceeded"
        assert refused.value.response.headers["retry-after"]
        waiting.eventually(
            lambda: client.responses.retrieve(first.id).status == "completed" or None,
            timeout=10,
            what="the admitted background response to complete",
        )
