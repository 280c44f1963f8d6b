"""A background response created with ``stream: true`` streams its events to its client, runs on
when that client leaves, and can be streamed again from any replica with ``starting_after``, as
OpenAI's background mode and vLLM's ``GET /v1/responses/{id}?stream=true`` allow. The clients
are the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import openai
import pytest
from agentic import with_store
from aiohttp import web
from live import eventually
from paced_upstreams import Paced, event, paced_client, paced_router
from router_fakes import MODEL, settings
from tests.router.live import fleet, router_in_thread, router_settings

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.settings import RouterSettings
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.store import Store, StoreFailed

pytestmark = pytest.mark.timeout(60)

_TUNING = {"first_byte_timeout_s": 2.0, "idle_timeout_s": 2.0, "response_timeout_s": 60.0}


def _story(deltas: int, pause: float, gate: asyncio.Event | None = None) -> Any:
    """A pod's Responses stream of ``deltas`` words, ``pause`` seconds apart; with ``gate``,
    the second half waits until it is set."""

    async def answer(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        response = {"id": "resp_up", "object": "response", "created_at": 1, "model": MODEL}
        created = {
            "type": "response.created",
            "sequence_number": 0,
            "response": {**response, "status": "in_progress"},
        }
        stream = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await stream.prepare(request)
        await stream.write(event(created, "response.created"))
        for n in range(deltas):
            if gate is not None and n == deltas // 2:
                await gate.wait()
            kind = "response.output_text.delta"
            delta = {"type": kind, "item_id": "m", "output_index": 0, "content_index": 0}
            await asyncio.sleep(pause)
            await stream.write(event({**delta, "delta": f"w{n} ", "sequence_number": n + 1}, kind))
        text = {"type": "output_text", "text": "story", "annotations": []}
        message = {"type": "message", "id": "m", "role": "assistant", "content": [text]}
        usage = {"input_tokens": 5, "output_tokens": deltas, "total_tokens": 5 + deltas}
        done = {**response, "status": "completed", "output": [message], "usage": usage}
        end = {"type": "response.completed", "sequence_number": deltas + 1, "response": done}
        await stream.write(event(end, "response.completed"))
        await stream.write_eof()
        return stream

    return answer


def _settings() -> RouterSettings:
    return settings(providers=[], tuning=_TUNING | {"replay_poll_s": 0.05})


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="none", max_retries=0)


async def _streamed(client: openai.AsyncOpenAI) -> Any:
    """A streamed background response of a story, as the SDK opens it."""
    return await client.responses.create(model=MODEL, input="a story", background=True, stream=True)


async def _run_ended(router: Any, rid: str, *, within: float) -> None:
    """Wait until ``router`` no longer runs the background response ``rid``."""

    async def ended() -> bool:
        return router.app.state.proxy.background.live(rid) is None

    await eventually(ended, what="the run to end", within=within)


async def test_a_streamed_background_response_streams_every_event_and_is_kept_completed() -> None:
    upstreams = Paced({"pod-a.test": _story(6, 0.01)})
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        seen = [e async for e in stream]
        rid = seen[0].response.id
        kept = await client.responses.retrieve(rid)
    assert seen[0].type == "response.created" and seen[-1].type == "response.completed"
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    assert seen[-1].response.background is True and seen[-1].response.id == rid
    assert kept.status == "completed" and kept.background is True
    assert kept.output_text == "story"


async def test_a_client_that_left_resumes_on_another_replica_after_its_last_event(
    redis_server: RedisServer,
) -> None:
    gate = asyncio.Event()
    upstreams = Paced({"pod-a.test": _story(8, 0.01, gate)})
    config = with_store(_settings(), redis_server)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(paced_router(config, upstreams))
        second = await stack.enter_async_context(paced_router(config, upstreams))
        leaving = await stack.enter_async_context(_client(first.base_url))
        stream = await leaving.responses.create(
            model=MODEL, input="a story", background=True, stream=True
        )
        before = []
        async for e in stream:
            before.append(e)
            if e.type == "response.output_text.delta":
                break
        await stream.close()  # the client leaves after the first word
        rid, last = before[0].response.id, before[-1].sequence_number
        gate.set()  # the rest of the story comes after the client left
        resuming = await stack.enter_async_context(_client(second.base_url))
        resumed = await resuming.responses.retrieve(rid, stream=True, starting_after=last)
        after = [e async for e in resumed]
    numbers = [e.sequence_number for e in before + after]
    assert numbers == list(range(len(numbers)))  # nothing lost, nothing twice
    assert after[-1].type == "response.completed" and after[-1].response.id == rid
    words = [e.delta for e in before + after if e.type == "response.output_text.delta"]
    assert words == [f"w{n} " for n in range(8)]
    assert len(upstreams.seen) == 1 and upstreams.finished == ["pod-a.test"]


async def test_a_replay_on_another_replica_follows_the_run_as_its_events_are_stored(
    redis_server: RedisServer,
) -> None:
    gate = asyncio.Event()
    upstreams = Paced({"pod-a.test": _story(8, 0.01, gate)})
    # The store is read on the timer once a minute: only its pub/sub brings the events sooner.
    tuning = _TUNING | {"replay_poll_s": 60.0}
    config = with_store(settings(providers=[], tuning=tuning), redis_server)
    async with AsyncExitStack() as stack:
        _, second, _, rid = await _left_running(stack, config, upstreams)
        following = await stack.enter_async_context(_client(second.base_url))
        replay = aiter(await following.responses.retrieve(rid, stream=True))
        seen: list[Any] = []
        try:
            async with asyncio.timeout(20):
                while len(seen) < 5:  # created and the four words before the gate
                    seen.append(await anext(replay))
                gate.set()  # the rest is made only now, while the replay waits for it
                seen.extend([e async for e in replay])
        except TimeoutError:
            raise AssertionError(f"the replay stopped following after {len(seen)} events") from None
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    words = [e.delta for e in seen if e.type == "response.output_text.delta"]
    assert words == [f"w{n} " for n in range(8)]
    assert seen[-1].type == "response.completed" and seen[-1].response.id == rid


@pytest.mark.parametrize("ending", ["cancel", "delete"])
async def test_a_replay_on_another_replica_ends_when_its_paused_response_is_cancelled_or_deleted(
    redis_server: RedisServer, ending: str
) -> None:
    gate = asyncio.Event()  # never set: the run pauses halfway, its log quiet
    upstreams = Paced({"pod-a.test": _story(8, 0.01, gate)})
    # The store is read on the timer once a minute: only a ring ends the replay sooner.
    tuning = _TUNING | {"idle_timeout_s": 60.0, "replay_poll_s": 60.0}
    config = with_store(settings(providers=[], tuning=tuning), redis_server)
    async with AsyncExitStack() as stack:
        _, other, client, rid = await _left_running(stack, config, upstreams)
        stack.callback(gate.set)  # at the end the pod's handler goes on, to find the router gone
        following = await stack.enter_async_context(_client(other.base_url))
        resting = _resting(other)
        replay = aiter(await following.responses.retrieve(rid, stream=True))
        seen = [await anext(replay) for _ in range(5)]  # created and the words before the gate
        await eventually(resting, what="the replay to wait on its bell", within=10)
        if ending == "cancel":
            await client.responses.cancel(rid)
        else:
            await client.responses.delete(rid)
        rest: list[Any] = []
        try:
            async with asyncio.timeout(10):
                async for e in replay:
                    rest.append(e)
        except TimeoutError:
            raise AssertionError(f"the replay did not end at the {ending}") from None
        gate.set()
        if ending == "cancel":

            async def left() -> bool:
                return upstreams.left == ["pod-a.test"]

            await eventually(left, what="the cancelled run to close its upstream", within=10)
    assert [e.sequence_number for e in seen] == list(range(5))
    if ending == "cancel":
        assert rest == []  # a cancelled response's stream ends with nothing more
        assert upstreams.finished == []
    else:
        assert [(e.type, e.code, e.sequence_number) for e in rest] == [("error", "not_found", 5)]


async def _left_running(
    stack: AsyncExitStack, config: RouterSettings, upstreams: Paced
) -> tuple[Any, Any, openai.AsyncOpenAI, str]:
    """Two replicas on one store, and a streamed background response on the first that its
    client left after the first event: the replica running it, the other, the client and the
    response's id."""
    running = await stack.enter_async_context(paced_router(config, upstreams))
    other = await stack.enter_async_context(paced_router(config, upstreams))
    client = await stack.enter_async_context(_client(running.base_url))
    stream = await _streamed(client)
    rid = (await anext(aiter(stream))).response.id
    await stream.close()  # the run goes on without its client
    return running, other, client, rid


def _resting(router: Any) -> Callable[[], Awaitable[bool]]:
    """A probe of whether ``router``'s replays have read their response since the last events
    they read from the store: from then on only a ring or ``replay_poll_s`` wakes them."""
    state = router.app.state
    calls: list[str] = []
    read_log, get_record = state.events.read, state.records.get

    async def reading(*args: Any) -> Any:
        found = await read_log(*args)
        calls.append("events" if found else "none")
        return found

    async def getting(*args: Any) -> Any:
        calls.append("record")
        return await get_record(*args)

    state.events.read, state.records.get = reading, getting

    async def resting() -> bool:
        grown = [n for n, call in enumerate(calls) if call == "events"]
        return bool(grown) and "record" in calls[grown[-1] :]

    return resting


async def test_an_ended_response_is_streamed_again_from_the_store_after_starting_after() -> None:
    upstreams = Paced({"pod-a.test": _story(5, 0.0)})
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        seen = [e async for e in stream]
        rid = seen[0].response.id

        await _run_ended(router, rid, within=5)
        again = [e async for e in await client.responses.retrieve(rid, stream=True)]
        tail = await client.responses.retrieve(rid, stream=True, starting_after=3)
        rest = [e async for e in tail]
    assert [e.model_dump() for e in again] == [e.model_dump() for e in seen]
    assert [e.sequence_number for e in rest] == [e.sequence_number for e in seen[4:]]


async def test_a_background_response_made_without_stream_streams_its_final_event() -> None:
    upstreams = Paced({"pod-a.test": _story(3, 0.0)})
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        queued = await client.responses.create(model=MODEL, input="a story", background=True)

        async def completed() -> bool:
            return (await client.responses.retrieve(queued.id)).status == "completed"

        await eventually(completed, what="the background response to complete", within=10)
        replayed = [e async for e in await client.responses.retrieve(queued.id, stream=True)]
    assert [e.type for e in replayed] == ["response.completed"]
    assert replayed[0].response.output_text == "story"


async def test_streaming_again_is_refused_for_a_foreground_response_and_a_bad_cursor() -> None:
    upstreams = Paced({"pod-a.test": _story(2, 0.0)})
    async with paced_client(_settings(), upstreams) as (_, http):
        kept = await http.post("/v1/responses", json={"model": MODEL, "input": "hi"})
        rid = kept.json()["id"]
        foreground = await http.get(f"/v1/responses/{rid}", params={"stream": "true"})
        cursor = await http.get(
            f"/v1/responses/{rid}", params={"stream": "true", "starting_after": "soon"}
        )
        missing = await http.get("/v1/responses/resp_nothing", params={"stream": "true"})
    assert foreground.status_code == 400 and foreground.json()["error"]["param"] == "stream"
    assert cursor.status_code == 400 and cursor.json()["error"]["param"] == "starting_after"
    assert missing.status_code == 404


async def test_cancelling_a_streamed_background_response_ends_its_stream_and_upstream() -> None:
    upstreams = Paced({"pod-a.test": _story(400, 0.05)})  # 20 s if left to run
    async with (
        paced_client(_settings(), upstreams) as (router, http),
        _client(router.base_url) as client,
    ):
        stream = await client.responses.create(
            model=MODEL, input="a long story", background=True, stream=True
        )
        seen: list[Any] = []

        async def read_all() -> None:
            async for e in stream:
                seen.append(e)

        reading = asyncio.create_task(read_all())

        async def started() -> bool:
            return len(seen) >= 3

        await eventually(started, what="the stream to start", within=10)
        rid = seen[0].response.id
        cancelled = await http.post(f"/v1/responses/{rid}/cancel")
        await asyncio.wait_for(reading, 10)  # the client's stream ends with the run

        async def stopped() -> bool:
            return upstreams.left == ["pod-a.test"]

        await eventually(stopped, what="the upstream to stop", within=5)
        kept = await client.responses.retrieve(rid)
        replayed = [e async for e in await client.responses.retrieve(rid, stream=True)]
    assert cancelled.json()["status"] == "cancelled" and kept.status == "cancelled"
    assert all(e.type != "response.completed" for e in seen)
    assert [e.sequence_number for e in replayed] == [e.sequence_number for e in seen]


async def test_a_deleted_streamed_background_response_cannot_be_streamed_again() -> None:
    upstreams = Paced({"pod-a.test": _story(2, 0.0)})
    async with (
        paced_client(_settings(), upstreams) as (router, http),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        seen = [e async for e in stream]
        rid = seen[0].response.id

        await _run_ended(router, rid, within=5)
        await client.responses.delete(rid)
        again = await http.get(f"/v1/responses/{rid}", params={"stream": "true"})
        log = await router.app.state.events.read("anonymous", rid, 0, 10)
    assert again.status_code == 404
    assert log == []


@pytest.mark.parametrize("route", ["local", "hosted"])
def test_a_simulated_vllm_pod_or_provider_streams_a_background_response_to_resume(
    route: str,
) -> None:
    with fleet() as found, router_in_thread(router_settings(found)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        stream = client.responses.create(
            model=MODEL,
            input="What is new?",
            background=True,
            stream=True,
            extra_headers={"x-gptoss-route": route},
        )
        seen = list(stream)
        rid = seen[0].response.id
        resumed = list(client.responses.retrieve(rid, stream=True, starting_after=2))
        kept = client.responses.retrieve(rid)
    assert seen[-1].type == "response.completed" and kept.status == "completed"
    numbers = [e.sequence_number for e in seen]
    assert numbers == sorted(set(numbers))  # each once, in order (providers count from 1)
    after = [e.model_dump() for e in seen if e.sequence_number > 2]
    assert [e.model_dump() for e in resumed] == after
    assert seen[-1].response.output_text == kept.output_text != ""


async def test_a_stores_log_keeps_its_entries_in_order_until_deleted_or_expired(
    store: Store,
) -> None:
    assert await store.append_log("story", [b"a", b"b"], 60) == 2
    assert await store.append_log("story", [b"c"], 60) == 3
    assert await store.read_log("story", 1, 5) == [b"b", b"c"]
    assert await store.read_log("story", 3, 5) == []
    assert await store.delete_log("story") and await store.read_log("story", 0, 5) == []
    assert not await store.delete_log("story")
    await store.append_log("brief", [b"x"], 0.05)

    async def expired() -> bool:
        return await store.read_log("brief", 0, 5) == []

    await eventually(expired, what="the log to expire", within=5)


def _numbered(*, comments: bool, alphabetical: bool, first: int = 0, ends: bool = True) -> Any:
    """A pod's Responses stream of four words numbered from ``first``: with ``comments``, a
    keep-alive comment before each word; ``alphabetical``: each event's fields sorted, as
    vLLM's pydantic models write them (``response`` before ``sequence_number``), with a tool
    schema holding a ``sequence_number`` of its own; without ``ends``, broken off."""

    async def answer(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        base: dict[str, Any] = {"id": "resp_up", "object": "response", "created_at": 1}
        if alphabetical:
            schema = {"type": "object", "examples": [{"sequence_number": 7}]}
            base["tools"] = [{"type": "function", "name": "f", "parameters": schema}]
        stream = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await stream.prepare(request)

        def numbered(kind: str, seq: int, **rest: Any) -> bytes:
            doc = {"type": kind, "sequence_number": seq, **rest}
            return event(dict(sorted(doc.items())) if alphabetical else doc, kind)

        await stream.write(numbered("response.created", first, response=base))
        for n in range(4):
            if comments:
                await stream.write(b": keep-alive\n\n")
            part = {"item_id": "m", "output_index": 0, "content_index": 0, "delta": f"w{n} "}
            await stream.write(numbered("response.output_text.delta", first + n + 1, **part))
        if ends:
            text = {"type": "output_text", "text": "story", "annotations": []}
            message = {"type": "message", "id": "m", "role": "assistant", "content": [text]}
            usage = {"input_tokens": 1, "output_tokens": 4, "total_tokens": 5}
            done = {**base, "status": "completed", "output": [message], "usage": usage}
            await stream.write(numbered("response.completed", first + 5, response=done))
        await stream.write_eof()
        return stream

    return answer


async def _streamed_then_replayed(
    upstreams: Paced, after: int | None = None
) -> tuple[list[Any], list[Any], Any]:
    """A streamed background response's events, the same streamed again from the store once
    its run has ended (after ``after``), and the response as kept."""
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        seen = [e async for e in stream]
        rid = seen[0].response.id

        await _run_ended(router, rid, within=5)
        cursor = {} if after is None else {"starting_after": after}
        again = [e async for e in await client.responses.retrieve(rid, stream=True, **cursor)]
        kept = await client.responses.retrieve(rid)
    return seen, again, kept


@pytest.mark.parametrize(
    ("comments", "alphabetical"),
    [(True, False), (False, True)],
    ids=["keep-alive comments", "a schema holding sequence_number"],
)
async def test_a_replay_numbers_events_by_their_own_sequence_number(
    comments: bool, alphabetical: bool
) -> None:
    upstreams = Paced({"pod-a.test": _numbered(comments=comments, alphabetical=alphabetical)})
    seen, again, _ = await _streamed_then_replayed(upstreams, after=2)
    assert [e.sequence_number for e in seen] == [0, 1, 2, 3, 4, 5]
    assert [e.sequence_number for e in again] == [3, 4, 5]
    assert again[-1].type == "response.completed"


async def test_a_stream_broken_off_is_failed_with_numbers_after_the_upstreams() -> None:
    upstreams = Paced(
        {"pod-a.test": _numbered(comments=False, alphabetical=False, first=1, ends=False)}
    )
    seen, again, kept = await _streamed_then_replayed(upstreams)
    numbers = [e.sequence_number for e in seen]
    assert [e.type for e in seen][-2:] == ["error", "response.failed"]
    assert numbers == sorted(set(numbers))  # the error after the last word, not on it
    assert [e.model_dump() for e in again] == [e.model_dump() for e in seen]
    assert kept.status == "failed"


async def test_a_store_that_misses_the_completed_write_leaves_the_response_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = MemoryStore.put_document
    refused: list[str] = []

    async def blinking(
        self: MemoryStore, key: str, value: bytes, ttl_s: float, **kw: Any
    ) -> int | None:
        status = json.loads(value).get("response", {}).get("status")
        if key.startswith("resp:") and status == "completed" and not refused:
            refused.append(key)
            raise StoreFailed("blink")
        return await real(self, key, value, ttl_s, **kw)

    monkeypatch.setattr(MemoryStore, "put_document", blinking)
    upstreams = Paced({"pod-a.test": _story(3, 0.0)})
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        seen = [e async for e in stream]

        async def failed() -> bool:
            try:
                kept = await client.responses.retrieve(seen[0].response.id)
            except openai.InternalServerError:  # the store is held down a moment after a blink
                return False
            return kept.status == "failed"

        await eventually(failed, what="the failure the client saw to be kept", within=10)
    assert refused and [e.type for e in seen][-2:] == ["error", "response.failed"]


async def test_a_response_deleted_while_it_streams_leaves_no_events_behind() -> None:
    upstreams = Paced({"pod-a.test": _story(20, 0.05)})
    async with (
        paced_client(_settings(), upstreams) as (router, http),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)
        first = [e async for e in _first(stream, 3)]
        rid = first[0].response.id
        deleted = await http.delete(f"/v1/responses/{rid}")

        await _run_ended(router, rid, within=10)
        log = await router.app.state.events.read("anonymous", rid, 0, 100)
    assert deleted.status_code == 200 and log == []


async def _first(stream: Any, count: int) -> Any:
    """The first ``count`` events of ``stream``, which is then closed."""
    taken = 0
    async for e in stream:
        yield e
        taken += 1
        if taken == count:
            break
    await stream.close()


async def test_a_client_stream_ends_at_its_failure_while_the_store_still_refuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = MemoryStore.put_document
    refusing = True

    async def down_for_finals(
        self: MemoryStore, key: str, value: bytes, ttl_s: float, **kw: Any
    ) -> int | None:
        status = json.loads(value).get("response", {}).get("status")
        if key.startswith("resp:") and status in ("completed", "failed") and refusing:
            raise StoreFailed("down")
        return await real(self, key, value, ttl_s, **kw)

    monkeypatch.setattr(MemoryStore, "put_document", down_for_finals)
    upstreams = Paced({"pod-a.test": _story(3, 0.0)})
    async with (
        paced_client(_settings(), upstreams) as (router, _),
        _client(router.base_url) as client,
    ):
        stream = await _streamed(client)

        async def read() -> list[Any]:
            return [e async for e in stream]

        seen = await asyncio.wait_for(read(), 10)  # not held open while the write is retried
        refusing = False

        async def failed() -> bool:
            try:
                kept = await client.responses.retrieve(seen[0].response.id)
            except openai.InternalServerError:
                return False
            return kept.status == "failed"

        await eventually(failed, what="the failure to be kept once the store is back", within=20)
    assert [e.type for e in seen][-2:] == ["error", "response.failed"]
