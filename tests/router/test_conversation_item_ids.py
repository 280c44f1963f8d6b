"""A conversation's items keep ids of their own whatever ids its backends give: a backend that
reuses an item id, or gives none, would leave items that the SDK's paging by ``after`` loops on
and that retrieving or deleting by id cannot tell apart. The client is the official SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from aiohttp import web
from paced_upstreams import Paced, event, paced_client
from router_fakes import MODEL, settings

from gptoss_router.openai.conversations import distinct_ids

pytestmark = pytest.mark.timeout(60)


def _pod(output: list[dict[str, Any]]) -> Any:
    """A pod that answers every Responses request with ``output``, ids as given."""

    async def answer(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
        response = {"id": "resp_up", "object": "response", "created_at": 1, "model": MODEL}
        usage = {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
        done = {**response, "status": "completed", "output": output, "usage": usage}
        stream = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await stream.prepare(request)
        created = {**response, "status": "in_progress", "output": []}
        await stream.write(
            event({"type": "response.created", "sequence_number": 0, "response": created})
        )
        await stream.write(
            event({"type": "response.completed", "sequence_number": 1, "response": done})
        )
        await stream.write_eof()
        return stream

    return answer


def _message(text: str, item_id: str | None) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    message = {"type": "message", "role": "assistant", "status": "completed", "content": [part]}
    return message if item_id is None else {**message, "id": item_id}


def test_items_without_an_id_or_with_one_already_held_get_new_ids_and_the_rest_keep_theirs() -> (
    None
):
    held = [{"type": "message", "id": "msg_1"}]
    added = [
        {"type": "message", "id": "msg_2"},
        {"type": "message", "id": "msg_1"},  # held already
        {"type": "reasoning"},  # none
        {"type": "function_call", "id": "msg_2"},  # added just before
    ]
    ids = [item["id"] for item in distinct_ids(added, held)]
    assert ids[0] == "msg_2"
    assert ids[1].startswith("msg_") and ids[1] != "msg_1"
    assert ids[2].startswith("rs_")
    assert ids[3].startswith("fc_")
    assert len({*ids, "msg_1"}) == 5
    assert added[1]["id"] == "msg_1"  # the backend's answer itself is left as it was


async def test_a_conversation_whose_backend_reuses_and_omits_item_ids_pages_to_its_end() -> None:
    output = [{"type": "reasoning", "summary": []}, _message("same id", "msg_same")]
    upstreams = Paced({"pod-a.test": _pod(output)})
    async with (
        paced_client(settings(providers=[]), upstreams) as (router, _),
        openai.AsyncOpenAI(
            base_url=f"{router.base_url}/v1", api_key="none", max_retries=0
        ) as client,
    ):
        conversation = await client.conversations.create()
        for text in ("first", "second"):
            await client.responses.create(model=MODEL, input=text, conversation=conversation.id)
        ids: list[str] = []
        async for item in client.conversations.items.list(conversation.id, limit=1, order="asc"):
            ids.append(item.id)  # type: ignore[union-attr]
            assert len(ids) <= 6, f"paging did not end: {ids}"
        assert len(ids) == len(set(ids)) == 6  # two turns: input, reasoning, message
        assert ids[2] == "msg_same"  # the first holder of an id keeps it
        assert ids[5] != "msg_same"
        moved = await client.conversations.items.retrieve(ids[5], conversation_id=conversation.id)
        assert moved.type == "message"
        await client.conversations.items.delete(ids[5], conversation_id=conversation.id)
        kept = await client.conversations.items.retrieve(
            "msg_same", conversation_id=conversation.id
        )
        assert kept.id == "msg_same"
