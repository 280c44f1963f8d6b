"""The Conversations API, kept by the router: the official SDK's every call, turns of one
conversation on any backend or router replica, and the Agents SDK's conversation sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
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
from gptoss_router.errors import BadRequest
from gptoss_router.openai.conversations import (
    conversation_id_of,
    metadata_of,
    new_items,
    turn_items,
    visible,
)
from gptoss_router.state.conversations import Conversation


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


# -- pure pieces -------------------------------------------------------------------------------


def test_items_metadata_and_the_conversation_parameter_are_checked_as_openai_does() -> None:
    items = new_items([_user("hi"), {"role": "assistant", "content": "hello"}], required=True)
    assert [i["id"][:4] for i in items] == ["msg_", "msg_"]
    assert items[1]["content"] == [{"type": "output_text", "text": "hello", "annotations": []}]
    assert new_items(None, required=False) == []
    with pytest.raises(BadRequest, match="maximum length 20"):
        new_items([_user(str(i)) for i in range(21)], required=True)
    with pytest.raises(BadRequest):
        new_items(None, required=True)
    assert metadata_of({"a": "b"}) == {"a": "b"} and metadata_of(None) == {}
    with pytest.raises(BadRequest):
        metadata_of({str(i): "v" for i in range(17)})
    with pytest.raises(BadRequest):
        metadata_of({"a": 1})
    assert conversation_id_of("conv_1") == conversation_id_of({"id": "conv_1"}) == "conv_1"
    with pytest.raises(BadRequest):
        conversation_id_of({"name": "x"})


def test_a_completed_turn_adds_its_input_then_its_output_and_a_failed_one_nothing() -> None:
    inputs = [{"id": "msg_1"}]
    output = [{"id": "rs_1", "type": "reasoning"}, {"id": "msg_2", "type": "message"}]
    done = {"status": "completed", "output": output}
    assert [i["id"] for i in turn_items(inputs, done)] == ["msg_1", "rs_1", "msg_2"]
    assert turn_items(inputs, {"status": "failed", "output": []}) == []
    assert [i["id"] for i in visible(output, strip_reasoning=True)] == ["msg_2"]
    kept = Conversation({"id": "conv_1", "object": "conversation"}, output)
    assert Conversation.decode(kept.encode()) == kept


# -- the official SDK against the simulators ---------------------------------------------------


def test_every_conversations_call_of_the_sdk() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        made = client.conversations.create(
            items=[_user(f"line {i}") for i in range(3)], metadata={"topic": "demo"}
        )
        assert made.id.startswith("conv_") and made.object == "conversation"
        assert made.metadata == {"topic": "demo"} and made.created_at > 0
        got = client.conversations.retrieve(made.id)
        assert got.id == made.id and got.metadata == {"topic": "demo"}

        added = client.conversations.items.create(
            made.id, items=[_user("line 3"), {"role": "assistant", "content": "line 4"}]
        )
        assert [item.type for item in added.data] == ["message", "message"]
        assert added.first_id == added.data[0].id and not added.has_more

        page = client.conversations.items.list(made.id, limit=2, order="asc")
        assert [item.content[0].text for item in page.data] == ["line 0", "line 1"]  # type: ignore[union-attr]
        assert page.has_more and page.last_id == page.data[-1].id
        texts = [
            item.content[0].text
            for item in client.conversations.items.list(made.id, limit=2, order="asc")
        ]  # type: ignore[union-attr]
        assert texts == [f"line {i}" for i in range(5)]  # every page, through `after`
        newest = client.conversations.items.list(made.id, limit=1)
        assert newest.data[0].content[0].text == "line 4"  # type: ignore[union-attr]
        everything = client.conversations.items.list(made.id, order="asc", include=[]).data

        one = client.conversations.items.retrieve(everything[1].id, conversation_id=made.id)
        assert one.id == everything[1].id and one.role == "user"  # type: ignore[union-attr]
        after_delete = client.conversations.items.delete(everything[1].id, conversation_id=made.id)
        assert after_delete.id == made.id
        with pytest.raises(openai.NotFoundError):
            client.conversations.items.retrieve(everything[1].id, conversation_id=made.id)
        assert len(client.conversations.items.list(made.id).data) == 4

        updated = client.conversations.update(made.id, metadata={"topic": "other", "n": "2"})
        assert updated.metadata == {"topic": "other", "n": "2"}
        assert client.conversations.retrieve(made.id).metadata == updated.metadata

        gone = client.conversations.delete(made.id)
        assert gone.id == made.id and gone.deleted and gone.object == "conversation.deleted"
        with pytest.raises(openai.NotFoundError) as missing:
            client.conversations.retrieve(made.id)
        assert missing.value.body == {
            "message": f"Conversation with id '{made.id}' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        with pytest.raises(openai.NotFoundError):
            client.conversations.delete(made.id)

        empty = client.conversations.create()
        assert client.conversations.items.list(empty.id).data == []
        with pytest.raises(openai.BadRequestError):
            client.conversations.create(items=[_user(str(i)) for i in range(21)])
        wrong = httpx.put(
            f"{url}/v1/conversations/{empty.id}", headers={"authorization": "Bearer shop-key-1"}
        )
        assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) >= {
            "GET",
            "POST",
            "DELETE",
        }


def test_turns_of_one_conversation_alternate_between_the_local_pod_and_a_provider() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        conversation = client.conversations.create(items=[_user("I am planning a trip.")])
        raw = client.responses.with_raw_response.create(
            model=MODEL,
            conversation=conversation.id,
            input="What is the weather in Paris?",
            tools=[WEATHER],
            extra_headers=LOCAL,
        )
        first = raw.parse()
        assert raw.headers["x-gptoss-backend"] == "local"
        assert first.conversation is not None and first.conversation.id == conversation.id
        assert [item.type for item in first.output] == ["reasoning", "function_call"]

        raw = client.responses.with_raw_response.create(
            model=MODEL,
            conversation={"id": conversation.id},
            input=[_call_output(first)],
            tools=[WEATHER],
            extra_headers=HOSTED,
        )
        second = raw.parse()
        assert raw.headers["x-gptoss-backend"] != "local"
        assert second.output_text
        # The provider was sent the conversation's items, not only the function call and its
        # output.
        call = next(item for item in first.output if item.type == "function_call")
        alone = client.responses.create(
            model=MODEL,
            input=[call.model_dump(exclude_none=True), _call_output(first)],
            store=False,
            extra_headers=HOSTED,
        )
        assert second.usage is not None and alone.usage is not None
        assert second.usage.input_tokens > alone.usage.input_tokens + 10

        third = client.responses.create(
            model=MODEL, conversation=conversation.id, input="And tomorrow?", extra_headers=LOCAL
        )
        assert third.output_text and third.usage is not None
        assert third.usage.input_tokens > second.usage.input_tokens

        kinds = [
            item.type
            for item in client.conversations.items.list(conversation.id, order="asc", limit=100)
        ]
        assert kinds == [
            "message",  # created with it
            "message",  # turn 1: the question, its reasoning and call
            "reasoning",
            "function_call",
            "function_call_output",  # turn 2: the output, reasoning and the answer
            "reasoning",
            "message",
            "message",  # turn 3
            "reasoning",
            "message",
        ]
        # Stored responses of a conversation are still responses.
        assert client.responses.retrieve(third.id).output_text == third.output_text

        with pytest.raises(openai.BadRequestError) as both:
            client.responses.create(
                model=MODEL,
                conversation=conversation.id,
                previous_response_id=third.id,
                input="hi",
            )
        assert "Mutually exclusive" in both.value.message


def test_a_turn_or_an_add_that_repeats_an_items_id_is_refused_and_changes_nothing() -> None:
    """OpenAI refuses input that repeats an item (400 "Duplicate item found"). Kept twice, an
    item would make paging by ``after`` loop for ever and deleting it leave it readable."""
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        conversation = client.conversations.create(items=[_user("I am planning a trip.")])
        first = client.responses.create(
            model=MODEL, conversation=conversation.id, input="Weather in Paris?", tools=[WEATHER]
        )
        before = [i.id for i in client.conversations.items.list(conversation.id, limit=100)]
        # The usual pattern without a conversation: the output sent back with the call's output.
        echoed = [item.model_dump(exclude_none=True) for item in first.output]
        with pytest.raises(openai.BadRequestError) as turn:
            client.responses.create(
                model=MODEL,
                conversation=conversation.id,
                input=[*echoed, _call_output(first)],
                tools=[WEATHER],
            )
        held = client.conversations.items.list(conversation.id, limit=100)
        with pytest.raises(openai.BadRequestError) as added:
            client.conversations.items.create(conversation.id, items=[echoed[-1]])
        twice = {"type": "message", "role": "user", "content": "hi", "id": "msg_twice"}
        with pytest.raises(openai.BadRequestError) as repeated:
            client.conversations.items.create(conversation.id, items=[twice, twice])
        with pytest.raises(openai.BadRequestError) as in_one_input:
            client.responses.create(model=MODEL, input=[twice, twice], store=False)
        after = [i.id for i in client.conversations.items.list(conversation.id, limit=100)]
    assert turn.value.status_code == 400 and turn.value.param == "input"
    assert f"Duplicate item found with id {echoed[0]['id']}." in turn.value.message
    assert [i.id for i in held] == before == after
    assert added.value.param == repeated.value.param == "items"
    assert "Duplicate item found with id msg_twice." in repeated.value.message
    assert in_one_input.value.param == "input"


def test_an_added_item_is_checked_as_a_turns_input_is() -> None:
    """An item that no later turn could send is refused when added, not at every turn after."""
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        client = _client(url)
        conversation = client.conversations.create()
        with pytest.raises(openai.BadRequestError) as untyped:
            client.conversations.items.create(
                conversation.id,
                items=[{"content": "forgot the role"}],  # type: ignore[list-item]
            )
        with pytest.raises(openai.BadRequestError) as empty:
            client.conversations.items.create(conversation.id, items=[])
        reply = client.responses.create(model=MODEL, conversation=conversation.id, input="Hi")
        kept = list(client.conversations.items.list(conversation.id, limit=100))
    assert untyped.value.param == "items[0]" and "'type'" in untyped.value.message
    assert empty.value.param == "items" and "minimum length 1" in empty.value.message
    assert reply.status == "completed" and len(kept) == 1 + len(reply.output)


def test_an_app_that_may_not_see_reasoning_still_gets_it_carried_in_its_conversation() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        quiet = _client(url, "quiet-key-3")
        conversation = quiet.conversations.create()
        first = quiet.responses.create(
            model=MODEL, conversation=conversation.id, input="Weather in Oslo?", tools=[WEATHER]
        )
        assert [item.type for item in first.output] == ["function_call"]
        second = quiet.responses.create(
            model=MODEL, conversation=conversation.id, input=[_call_output(first)]
        )
        assert second.output_text
        shown = [item.type for item in quiet.conversations.items.list(conversation.id, order="asc")]
        assert shown == ["message", "function_call", "function_call_output", "message"]


def test_another_apps_conversation_is_not_found() -> None:
    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        shop, blog = _client(url), _client(url, "blog-key-2")
        mine = shop.conversations.create(items=[_user("secret")])
        item_id = shop.conversations.items.list(mine.id).data[0].id
        with pytest.raises(openai.NotFoundError):
            blog.conversations.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            blog.conversations.items.list(mine.id)
        with pytest.raises(openai.NotFoundError):
            blog.conversations.items.retrieve(item_id, conversation_id=mine.id)
        with pytest.raises(openai.NotFoundError):
            blog.conversations.items.create(mine.id, items=[_user("mine now")])
        with pytest.raises(openai.NotFoundError):
            blog.conversations.update(mine.id, metadata={"x": "y"})
        with pytest.raises(openai.NotFoundError):
            blog.conversations.delete(mine.id)
        with pytest.raises(openai.NotFoundError) as turn:
            blog.responses.create(model=MODEL, conversation=mine.id, input="hi")
        assert isinstance(turn.value.body, dict) and turn.value.body["param"] == "conversation"
        with pytest.raises(openai.NotFoundError):
            shop.responses.create(model=MODEL, conversation="conv_never_made", input="hi")
        assert len(shop.conversations.items.list(mine.id).data) == 1
        with pytest.raises(openai.AuthenticationError):
            _client(url, "wrong-key").conversations.retrieve(mine.id)


async def test_the_async_sdk_streams_a_turn_of_a_conversation() -> None:
    with fleet() as found:
        async with (
            live_router(router_settings(found, apps=APPS)) as router,
            _async_client(router.base_url) as client,
        ):
            conversation = await client.conversations.create(items=[_user("Call me Ada.")])
            stream = await client.responses.create(
                model=MODEL, conversation=conversation.id, input="Who am I?", stream=True
            )
            events = [event async for event in stream]
            assert events[-1].type == "response.completed"
            done = events[-1].response
            assert done.conversation is not None and done.conversation.id == conversation.id
            items = [item async for item in client.conversations.items.list(conversation.id)]
            assert [item.type for item in items] == ["message", "reasoning", "message", "message"]
            assert await client.conversations.items.delete(
                items[0].id, conversation_id=conversation.id
            )
            assert (await client.conversations.delete(conversation.id)).deleted


# -- two routers, one Redis --------------------------------------------------------------------


async def test_a_turn_of_a_conversation_is_refused_while_another_runs_and_served_after_it() -> None:
    """OpenAI answers a second concurrent turn of one conversation 400 conversation_locked;
    so does the router, to items added meanwhile too (the turn's items follow those it saw),
    and the conversation is free again once the first answer has ended, streamed or whole,
    served or refused."""
    with fleet() as found:
        async with (
            live_router(router_settings(found, apps=APPS)) as router,
            _async_client(router.base_url) as client,
        ):
            conversation = await client.conversations.create(items=[_user("Call me Ada.")])
            stream = await client.responses.create(
                model=MODEL, conversation=conversation.id, input="first", stream=True
            )
            events = aiter(stream)
            started = await anext(events)  # the first turn runs and holds the conversation
            with pytest.raises(openai.BadRequestError) as locked:
                await client.responses.create(
                    model=MODEL, conversation=conversation.id, input="second"
                )
            with pytest.raises(openai.BadRequestError) as adding:
                await client.conversations.items.create(conversation.id, items=[_user("early")])
            rest = [event async for event in events]
            await client.conversations.items.create(conversation.id, items=[_user("noted")])
            with pytest.raises(openai.BadRequestError) as refused:
                await client.responses.create(
                    model=MODEL, conversation=conversation.id, input=[{"content": "no role"}]
                )
            third = await client.responses.create(
                model=MODEL, conversation=conversation.id, input="third"
            )
            fourth = await client.responses.create(
                model=MODEL, conversation=conversation.id, input="fourth", stream=True
            )
            fourth_events = [event async for event in fourth]
            fifth = await client.responses.create(
                model=MODEL, conversation=conversation.id, input="fifth"
            )
            items = [item async for item in client.conversations.items.list(conversation.id)]
    assert started.type == "response.created" and rest[-1].type == "response.completed"
    assert locked.value.code == adding.value.code == "conversation_locked"
    assert locked.value.param == "conversation"
    assert "Another process is currently operating on this conversation" in locked.value.message
    assert refused.value.param == "input[0]"
    assert third.status == fifth.status == "completed"
    assert fourth_events[-1].type == "response.completed"
    said = [
        part.text
        for item in reversed(items)
        if item.type == "message" and item.role == "user"
        for part in item.content
        if hasattr(part, "text")
    ]
    assert said == ["Call me Ada.", "first", "noted", "third", "fourth", "fifth"]


async def test_two_routers_sharing_one_redis_continue_one_conversation(
    redis_server: RedisServer,
) -> None:
    with fleet() as found:
        settings = _with_store(router_settings(found, apps=APPS), redis_server)
        async with (
            live_router(settings) as one,
            live_router(settings) as two,
            _async_client(one.base_url) as first_client,
            _async_client(two.base_url) as other_client,
        ):
            conversation = await first_client.conversations.create(metadata={"via": "one"})
            first = await first_client.responses.create(
                model=MODEL, conversation=conversation.id, input="Weather in Lyon?", tools=[WEATHER]
            )
            second = await other_client.responses.create(
                model=MODEL, conversation=conversation.id, input=[_call_output(first)]
            )
            assert second.output_text
            page = await first_client.conversations.items.list(conversation.id, order="asc")
            assert [item.type for item in page.data] == [
                "message",
                "reasoning",
                "function_call",
                "function_call_output",
                "reasoning",
                "message",
            ]
            assert (await other_client.conversations.retrieve(conversation.id)).metadata == {
                "via": "one"
            }

            redis_server.kill()
            for call in (
                other_client.conversations.retrieve(conversation.id),
                other_client.conversations.create(),
                other_client.conversations.items.list(conversation.id),
                other_client.responses.create(
                    model=MODEL, conversation=conversation.id, input="more", store=False
                ),
            ):
                with pytest.raises(openai.APIStatusError) as down:
                    async with asyncio.timeout(10):
                        await call
                assert down.value.status_code == 503
                assert down.value.response.headers["retry-after"]


# -- other clients --------------------------------------------------------------------------------


def test_the_agents_sdk_keeps_its_session_in_a_router_conversation() -> None:
    from agents import OpenAIConversationsSession, RunConfig, Runner, set_tracing_disabled

    set_tracing_disabled(True)
    asked: list[str] = []

    async def run(url: str) -> None:
        async with _async_client(url) as client:
            agent = _weather_agent(client, asked)
            session = OpenAIConversationsSession(openai_client=client)
            config = RunConfig(tracing_disabled=True)
            first = await Runner.run(agent, "Weather in Paris?", session=session, run_config=config)
            assert first.final_output
            kept = await session.get_items()
            assert len(kept) >= 3  # the question, the call, its output, the answer
            second = await Runner.run(agent, "And in Rome?", session=session, run_config=config)
            assert second.final_output
            assert len(await session.get_items()) > len(kept)
            conversation = await client.conversations.retrieve(session.session_id)
            assert conversation.id == session.session_id
            popped = await session.pop_item()
            assert popped is not None
            await session.clear_session()
            with pytest.raises(openai.NotFoundError):
                await client.conversations.retrieve(conversation.id)

    with fleet() as found, router_in_thread(router_settings(found, apps=APPS)) as (url, _):
        asyncio.run(run(url))
    assert len(asked) == 2
