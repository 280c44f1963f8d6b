"""How a kept response ends when something breaks at its end: an upstream stream cut off, the
store blinking on the last write, the replica shutting down under a background response. The
store always ends up saying what the client was told, and nothing stays in progress."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from aiohttp import web
from live import eventually
from tests.router.router_fakes import (
    COMPLETED_RESPONSE,
    MODEL,
    Upstreams,
    running_router,
    serving,
    settings,
)

import gptoss_router.http.store as store_module
from gptoss_router.http.app import create_app
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.optimistic import ATTEMPTS
from gptoss_router.state.store import StoreFailed

COMPLETED = COMPLETED_RESPONSE


def _completed(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=COMPLETED)


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


class _Blinking(MemoryStore):
    """The in-process store, failing the next write of a document whose key starts with
    ``prefix`` (or whose response has ``status``) once: a store that blinked."""

    prefix: str | None = None
    status: str | None = None

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = -2
    ) -> Any:
        try:
            status = json.loads(value).get("response", {}).get("status")
        except ValueError:  # not a response: a conversation's lock
            status = None
        if (self.prefix and key.startswith(self.prefix)) or (self.status and status == self.status):
            type(self).prefix = type(self).status = None
            raise StoreFailed("TimeoutError: the store blinked")
        return await super().put_document(key, value, ttl_s, expected=expected)


@pytest.fixture
def blinking(monkeypatch: pytest.MonkeyPatch) -> type[_Blinking]:
    _Blinking.prefix = _Blinking.status = None
    monkeypatch.setattr(store_module, "MemoryStore", _Blinking)
    return _Blinking


def _sse(kind: str, doc: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **doc}).encode() + b"\n\n"


def _created() -> bytes:
    started = {**COMPLETED, "status": "in_progress", "output": [], "usage": None}
    return _sse("response.created", {"sequence_number": 0, "response": started})


def _cut(after: bytes) -> Any:
    def cut_off(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=after, headers={"content-type": "text/event-stream"})

    return cut_off


async def test_a_native_stream_cut_off_after_it_began_ends_failed_and_is_kept_failed() -> None:
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress"}
    began = _created() + _sse(
        "response.output_item.added",
        {"sequence_number": 1, "output_index": 0, "item": {**item, "content": []}},
    )
    async with running_router(settings(providers=[]), Upstreams({"pod-a.test": _cut(began)})) as c:
        answer = await c.post("/v1/responses", json={"model": MODEL, "input": "hi", "stream": True})
        events = _events(answer.text)
        kinds = [e["type"] for e in events]
        assert kinds == [
            "response.created",
            "response.output_item.added",
            "error",
            "response.failed",
        ]
        assert [e["sequence_number"] for e in events] == [0, 1, 2, 3]
        response_id = events[0]["response"]["id"]
        assert events[-1]["response"]["id"] == response_id
        kept = await c.get(f"/v1/responses/{response_id}")
        assert kept.status_code == 200
        assert kept.json()["status"] == "failed"
        assert kept.json()["error"]["message"] == "The upstream ended the stream early."


async def test_a_native_stream_cut_off_after_its_opening_alone_is_answered_by_another_pod() -> None:
    pods = ["http://pod-a.test:8000", "http://pod-b.test:8000"]
    upstreams = Upstreams({"pod-a.test": _cut(_created()), "pod-b.test": _completed})
    async with running_router(settings(pods=pods, providers=[]), upstreams) as c:
        for _ in range(20):  # until a request met pod-a (pods are picked at random)
            if "pod-a.test" in upstreams.hosts():
                break
            answer = await c.post(
                "/v1/responses", json={"model": MODEL, "input": "hi", "stream": True}
            )
            kinds = [e["type"] for e in _events(answer.text)]
            assert answer.status_code == 200
            assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
            assert "error" not in kinds and kinds.count("response.created") == 1
    assert "pod-a.test" in upstreams.hosts()


async def test_a_background_response_whose_last_write_meets_a_blink_still_ends(
    blinking: type[_Blinking],
) -> None:
    blinking.status = "completed"
    async with running_router(settings(providers=[]), Upstreams({"pod-a.test": _completed})) as c:
        queued = await c.post(
            "/v1/responses", json={"model": MODEL, "input": "hi", "background": True}
        )
        response_id = queued.json()["id"]

        async def ended() -> str | None:
            status = (await c.get(f"/v1/responses/{response_id}")).json().get("status")
            return status if status not in ("queued", "in_progress") else None

        assert await eventually(ended, what="the response ends", within=20) == "failed"
        assert blinking.status is None  # the blink happened


async def test_a_conversation_turn_its_conversation_could_not_take_is_kept_failed(
    blinking: type[_Blinking],
) -> None:
    async with running_router(settings(providers=[]), Upstreams({"pod-a.test": _completed})) as c:
        conversation = (await c.post("/v1/conversations", json={})).json()["id"]
        blinking.prefix = "conv:"
        body = {"model": MODEL, "input": "hi", "stream": True, "conversation": conversation}
        events = _events((await c.post("/v1/responses", json=body)).text)
        assert events[-1]["type"] == "response.failed"
        response_id = events[0]["response"]["id"]

        async def kept_failed() -> bool:
            kept = await c.get(f"/v1/responses/{response_id}")
            return kept.status_code == 200 and kept.json()["status"] == "failed"

        await eventually(kept_failed, what="the response is kept as failed", within=20)
        items = await c.get(f"/v1/conversations/{conversation}/items")
        assert items.json()["data"] == []


class _Contended(MemoryStore):
    """The in-process store in which another writer changes a conversation just before each
    of its next ``rivals`` compare-and-set writes: those writes all lose."""

    rivals = 0

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = -2
    ) -> Any:
        if key.startswith("conv:") and expected >= 0 and type(self).rivals > 0:
            type(self).rivals -= 1
            current = await self.get_document(key)
            assert current is not None
            await super().put_document(key, current.value, ttl_s)
        return await super().put_document(key, value, ttl_s, expected=expected)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_a_turn_whose_conversation_kept_changing_under_its_append_is_kept_failed(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """Every round of the append lost to another writer: the client is told (a stream ends
    failed, and its response is kept as failed, not completed; a whole answer is a 409), and
    the conversation is free for the next turn."""
    monkeypatch.setattr(store_module, "MemoryStore", _Contended)
    async with running_router(settings(providers=[]), Upstreams({"pod-a.test": _completed})) as c:
        conversation = (await c.post("/v1/conversations", json={})).json()["id"]
        _Contended.rivals = ATTEMPTS
        body = {"model": MODEL, "input": "hi", "stream": stream, "conversation": conversation}
        answer = await c.post("/v1/responses", json=body)
        if stream:
            events = _events(answer.text)
            told = [e["type"] for e in events[-2:]]
            response_id = events[0]["response"]["id"]

            async def kept_failed() -> bool:
                kept = await c.get(f"/v1/responses/{response_id}")
                return kept.status_code == 200 and kept.json()["status"] == "failed"

            await eventually(kept_failed, what="the response is kept as failed", within=20)
        else:  # a whole answer's id is never shown: the 409 says it all
            told = [answer.status_code, answer.json()["error"]["code"]]
        items = await c.get(f"/v1/conversations/{conversation}/items")
        again = await c.post("/v1/responses", json={**body, "stream": False})
    assert told == (["error", "response.failed"] if stream else [409, "conflict"])
    assert items.json()["data"] == []
    assert again.status_code == 200  # the conversation was not left locked


async def test_a_background_response_running_when_its_replica_stops_is_left_failed() -> None:
    release = asyncio.Event()

    class Hanging(Upstreams):
        async def serve(self, incoming: web.BaseRequest) -> web.Response:
            await incoming.read()
            await release.wait()
            return web.Response(status=500)

    config = settings(providers=[])
    async with serving(Hanging({"pod-a.test": _completed})) as names:
        app = create_app(config, resolver=names)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r.test") as c:
                body = {"model": MODEL, "input": "hi", "background": True}
                response_id = (await c.post("/v1/responses", json=body)).json()["id"]

                async def running() -> bool:
                    kept = await c.get(f"/v1/responses/{response_id}")
                    return bool(kept.json()["status"] == "in_progress")

                await eventually(running, what="the response runs", within=20)
            records = app.state.records
        release.set()
        found = await records.get("anonymous", response_id)
        assert found is not None
        assert found[0].response["status"] == "failed"
        assert "stopped" in found[0].response["error"]["message"]


async def test_head_on_a_conversation_is_answered_as_its_get() -> None:
    async with running_router(settings(providers=[]), Upstreams({"pod-a.test": _completed})) as c:
        conversation = (await c.post("/v1/conversations", json={})).json()["id"]
        for path in (
            f"/v1/conversations/{conversation}",
            f"/v1/conversations/{conversation}/items",
        ):
            head = await c.head(path)
            assert head.status_code == 200
            assert head.headers["content-type"] == "application/json"
