"""A stream the router itself cuts short (a fault of its own while relaying) is counted as
failed, not "ok": its metrics, its upstream connection and its usage estimate say the answer
did not end whole."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, chat_reply, running_router, settings

from gptoss_router.proxy import relay

pytestmark = pytest.mark.timeout(60)

STREAM = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def test_a_stream_cut_by_a_fault_of_the_router_is_not_counted_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> bytes:
        raise RuntimeError("a fault while relaying")

    monkeypatch.setattr(relay, "_rewrite", broken)
    upstreams = Upstreams({"pod-a.test": lambda request: chat_reply(MODEL)})
    registry = CollectorRegistry()
    async with running_router(settings(), upstreams, registry) as client:
        with pytest.raises(RuntimeError):
            await client.post("/v1/chat/completions", json=STREAM)

    def outcome(name: str) -> float | None:
        labels = {"route": "chat", "model": MODEL, "backend": "local", "outcome": name}
        return registry.get_sample_value("gptoss_router_requests_total", labels)

    assert outcome("ok") is None
    assert outcome("upstream_error") == 1
