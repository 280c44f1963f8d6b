"""A compare-and-set write the store applied but whose answer was lost (a Redis call past the
router's store timeout) counts as written: a conversation turn told it failed would be retried by
its client and its items appended twice, and its record rewritten as failed beside them."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry

from gptoss_router.errors import StoreUnavailable
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.inbound import read_inbound
from gptoss_router.proxy.finals import Finals
from gptoss_router.proxy.turns import Turn, Turns
from gptoss_router.state.conversations import Conversation, ConversationRecords
from gptoss_router.state.memory_store import MemoryStore
from gptoss_router.state.responses import ResponseRecords
from gptoss_router.state.store import ANY_VERSION, StoreFailed
from gptoss_router.state.store_health import StoreHealth

APP, CONVERSATION = "shop", "conv_1"


class LosingStore(MemoryStore):
    """Loses the answer to the next conversation write: after it landed (``applied``), or
    before it reached the store."""

    lose: str | None = None  # "applied" or "before"

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = ANY_VERSION
    ) -> int | None:
        if self.lose is not None and key.startswith("conv:"):
            how, self.lose = self.lose, None
            if how == "applied":
                await super().put_document(key, value, ttl_s, expected=expected)
            raise StoreFailed("TimeoutError: no answer")
        return await super().put_document(key, value, ttl_s, expected=expected)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def _setup() -> tuple[LosingStore, Turns, ResponseRecords, ConversationRecords]:
    store = LosingStore()
    health = StoreHealth(RouterMetrics(CollectorRegistry()), clock=Clock())
    records = ResponseRecords(store, health, ttl_s=60.0, max_bytes=1 << 20)
    conversations = ConversationRecords(store, health, ttl_s=60.0, max_bytes=1 << 20)
    meta = {"id": CONVERSATION, "object": "conversation", "created_at": 1, "metadata": {}}
    await conversations.create(APP, Conversation(meta, []))
    return (
        store,
        Turns(records, conversations, finals=Finals(first_wait_s=0.01)),
        records,
        conversations,
    )


async def _turn(turns: Turns) -> tuple[Turn, dict[str, object]]:
    body = json.dumps({"model": "m", "input": "Weather in Paris?", "conversation": CONVERSATION})
    turn = await turns.begin(APP, read_inbound("responses", body.encode()), body.encode())
    text = {"type": "output_text", "text": "Sunny.", "annotations": []}
    output = [
        {"id": "msg_out", "type": "message", "role": "assistant", "status": "completed",
         "content": [text]},
    ]  # fmt: skip
    response = {"id": turn.response_id, "object": "response", "status": "completed"}
    return turn, {**response, "output": output}


async def test_a_turn_whose_append_landed_but_whose_answer_was_lost_is_kept_once() -> None:
    store, turns, records, conversations = await _setup()
    turn, response = await _turn(turns)
    store.lose = "applied"
    try:
        assert await turns.keep(turn, response)
    finally:
        await turn.unlock()
    kept = await records.get(APP, turn.response_id)
    assert kept is not None and kept[0].response["status"] == "completed"
    found = await conversations.get(APP, CONVERSATION)
    assert found is not None
    assert [item["type"] for item in found[0].items] == ["message", "message"]


async def test_a_turn_whose_append_never_reached_the_store_is_still_told_so() -> None:
    store, turns, _, conversations = await _setup()
    turn, response = await _turn(turns)
    store.lose = "before"
    try:
        with pytest.raises(StoreUnavailable):
            await turns.keep(turn, response)
    finally:
        await turn.unlock()
    found = await conversations.get(APP, CONVERSATION)
    assert found is not None and found[0].items == []
