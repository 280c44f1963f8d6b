"""Cancelling a background response stops its upstream request and gives the pod's in-flight
count back, on whichever replica the cancel is made; so does any cancellation of a task awaiting
an attempt (``unless_left``)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from agentic import with_store
from aiohttp import web
from live import eventually
from paced_upstreams import Paced, event, events, paced_client, paced_router
from router_fakes import MODEL, settings

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.proxy.leaving import unless_left

pytestmark = pytest.mark.timeout(60)


# --- unless_left (pure asyncio) ----------------------------------------------------------------


async def test_work_is_cancelled_and_ended_when_the_task_awaiting_it_is_cancelled() -> None:
    started, ended = asyncio.Event(), asyncio.Event()

    async def work() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()
        return "never"

    left: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    awaiting = asyncio.ensure_future(unless_left(left, work()))
    await started.wait()
    awaiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await awaiting
    assert ended.is_set()  # the work has ended by the time the cancellation goes on


async def test_work_is_cancelled_and_none_returned_when_the_caller_leaves() -> None:
    started = asyncio.Event()

    async def work() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    left: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    awaiting = asyncio.ensure_future(unless_left(left, work()))
    await started.wait()
    left.set_result(None)
    assert await awaiting is None


async def test_a_result_reached_as_the_awaiting_task_is_cancelled_is_abandoned() -> None:
    abandoned: list[str] = []

    async def work() -> str:
        awaiting.cancel()  # cancelled the moment the work has its result
        return "an open answer"

    left: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    awaiting = asyncio.ensure_future(unless_left(left, work(), abandoned.append))
    with pytest.raises(asyncio.CancelledError):
        await awaiting
    assert abandoned == ["an open answer"]  # closed by the caller's abandon, not dropped


# --- through the router ----------------------------------------------------------------------


def _slow_response(deltas: int, pause: float) -> Any:
    """A pod's Responses stream that takes ``deltas * pause`` seconds to complete."""

    async def answer(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        response = {"id": "resp_up", "object": "response", "created_at": 1, "model": MODEL}
        created = {"type": "response.created", "response": {**response, "status": "in_progress"}}
        pieces: list[bytes | float] = [event(created, "response.created")]
        for n in range(deltas):
            kind = "response.output_text.delta"
            delta = {"type": kind, "item_id": "m", "output_index": 0, "content_index": 0}
            pieces += [pause, event({**delta, "delta": f"w{n} ", "sequence_number": n + 1}, kind)]
        text = {"type": "output_text", "text": "…", "annotations": []}
        message = {"type": "message", "id": "m", "role": "assistant", "content": [text]}
        usage = {"input_tokens": 5, "output_tokens": deltas, "total_tokens": 5 + deltas}
        done = {**response, "status": "completed", "output": [message], "usage": usage}
        pieces.append(event({"type": "response.completed", "response": done}, "response.completed"))
        return await events(request, pieces)

    return answer


@pytest.fixture
def no_collection() -> Iterator[None]:
    """No cyclic garbage collection: it may close an attempt nothing holds any more (a task
    left running is only weakly referenced), which would hide one that was never cancelled."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_collection")
async def test_cancelling_a_background_response_stops_its_upstream_and_frees_the_pod() -> None:
    upstreams = Paced({"pod-a.test": _slow_response(400, 0.05)})  # 20 s if left to run
    tuning = {"first_byte_timeout_s": 2.0, "idle_timeout_s": 2.0, "response_timeout_s": 60.0}
    async with paced_client(settings(providers=[], tuning=tuning), upstreams) as (router, client):
        pods = router.app.state.shared.backends.pools.pods(MODEL)
        created = await client.post(
            "/v1/responses", json={"model": MODEL, "input": "a long story", "background": True}
        )
        assert created.status_code == 200 and created.json()["status"] == "queued"
        rid = created.json()["id"]

        async def running() -> bool:
            return upstreams.hosts() == ["pod-a.test"] and [p.inflight for p in pods] == [1]

        await eventually(running, what="the upstream request to run", within=10)
        cancelled = await client.post(f"/v1/responses/{rid}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        async def stopped() -> bool:
            return upstreams.left == ["pod-a.test"] and [p.inflight for p in pods] == [0]

        await eventually(stopped, what="the upstream request to stop", within=5)
        kept = await client.get(f"/v1/responses/{rid}")
    assert kept.json()["status"] == "cancelled"
    assert upstreams.finished == []


@pytest.mark.usefixtures("no_collection")
async def test_a_cancel_on_another_replica_stops_the_run_where_it_runs(
    redis_server: RedisServer,
) -> None:
    upstreams = Paced({"pod-a.test": _slow_response(400, 0.05)})  # 20 s if left to run
    tuning = {"first_byte_timeout_s": 2.0, "idle_timeout_s": 2.0, "response_timeout_s": 60.0}
    config = with_store(settings(providers=[], tuning=tuning), redis_server)
    async with AsyncExitStack() as stack:
        running = await stack.enter_async_context(paced_router(config, upstreams))
        other = await stack.enter_async_context(paced_router(config, upstreams))
        to_running = await stack.enter_async_context(httpx.AsyncClient(base_url=running.base_url))
        to_other = await stack.enter_async_context(httpx.AsyncClient(base_url=other.base_url))
        created = await to_running.post(
            "/v1/responses", json={"model": MODEL, "input": "a long story", "background": True}
        )
        rid = created.json()["id"]

        async def generating() -> bool:
            return upstreams.hosts() == ["pod-a.test"]

        await eventually(generating, what="the upstream request to run", within=10)
        cancelled = await to_other.post(f"/v1/responses/{rid}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

        async def stopped() -> bool:
            return upstreams.left == ["pod-a.test"]

        await eventually(stopped, what="the run to stop on its replica", within=10)
        kept = await to_running.get(f"/v1/responses/{rid}")
    assert kept.json()["status"] == "cancelled"
    assert upstreams.finished == []  # stopped, not run to its end
