"""An app with ``strip_reasoning`` sees nothing of gpt-oss's chain of thought on any route,
whole or streamed: not the reasoning fields, items and events, not the logprobs of reasoning
tokens, not the analysis channel in ``/v1/completions`` text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from router_fakes import APP_KEY, MODEL, Upstreams, running_router, settings, sse

from gptoss_router.openai.replies import ReasoningText

SECRET = "SECRETTHOUGHT"
AUTH = {"authorization": f"Bearer {APP_KEY}"}
APPS = [{"name": "public", "key": APP_KEY, "strip_reasoning": True}]


def _chat_logprobs(*tokens: str) -> dict[str, Any]:
    return {
        "content": [
            {"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []}
            for t in tokens
        ]
    }


def _cmpl_logprobs(*tokens: str) -> dict[str, Any]:
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    return {
        "tokens": list(tokens),
        "token_logprobs": [-0.1] * len(tokens),
        "top_logprobs": [{t: -0.1} for t in tokens],
        "text_offset": offsets,
    }


def _chat(model: str, stream: bool) -> httpx.Response:
    if not stream:
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "The answer",
                            "reasoning": SECRET,
                        },
                        "logprobs": _chat_logprobs("SECRET", "THOUGHT", "The", " answer"),
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
            },
        )

    def chunk(delta: dict[str, Any], tokens: tuple[str, ...], finish: str | None = None) -> Any:
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": _chat_logprobs(*tokens) if tokens else None,
                    "finish_reason": finish,
                }
            ],
        }

    body = sse(
        chunk({"role": "assistant", "reasoning": "SECRET"}, ("SECRET",)),
        chunk({"reasoning": "THOUGHT"}, ("THOUGHT",)),
        chunk({"content": "The"}, ("The",)),
        chunk({"content": " answer"}, (" answer",)),
        chunk({}, (), "stop"),
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        },
        "[DONE]",
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


HARMONY_PIECES = {
    "skipped": ["analy", "sisSECRET", "THOUGHTassist", "antfinalThe", " answer"],
    "special": [
        "<|channel|>analysis<|message|>SECRET",
        "THOUGHT<|end|><|start|>assistant<|channel|>fi",
        "nal<|message|>The",
        " answer",
    ],
    "plain": ["The", " answer"],
}


def _completions(model: str, stream: bool, form: str) -> httpx.Response:
    pieces = HARMONY_PIECES[form]
    if not stream:
        text = "".join(pieces)
        return httpx.Response(
            200,
            json={
                "id": "cmpl",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "text": text,
                        "logprobs": _cmpl_logprobs(*pieces),
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            },
        )
    chunks = [
        {
            "id": "cmpl",
            "object": "text_completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "text": piece,
                    "logprobs": _cmpl_logprobs(piece),
                    "finish_reason": "stop" if i == len(pieces) - 1 else None,
                }
            ],
        }
        for i, piece in enumerate(pieces)
    ]
    body = sse(*chunks, "[DONE]")
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _reasoning_item(status: str, text: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}] if text else [],
        "status": status,
    }


def _message_item(status: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _response(model: str, status: str, output: list[Any]) -> dict[str, Any]:
    return {
        "id": "resp_up",
        "object": "response",
        "created_at": 1,
        "status": status,
        "model": model,
        "output": output,
        "usage": {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9},
    }


def _responses(model: str, stream: bool) -> httpx.Response:
    done = [_reasoning_item("completed", SECRET), _message_item("completed", "The answer")]
    if not stream:
        return httpx.Response(200, json=_response(model, "completed", done))
    where = {"item_id": "rs_1", "output_index": 0, "content_index": 0}
    mwhere = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
    reasoning_part = {"type": "reasoning_text", "text": SECRET}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(model, "in_progress", [])},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _reasoning_item("in_progress", ""),
        },
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "reasoning_text", "text": ""},
        },
        {"type": "response.reasoning_text.delta", **where, "delta": SECRET},
        {"type": "response.reasoning_text.done", **where, "text": SECRET},
        {"type": "response.content_part.done", **where, "part": reasoning_part},
        {"type": "response.output_item.done", "output_index": 0, "item": done[0]},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": _message_item("in_progress", ""),
        },
        {"type": "response.output_text.delta", **mwhere, "delta": "The answer", "logprobs": []},
        {"type": "response.output_item.done", "output_index": 1, "item": done[1]},
        {"type": "response.completed", "response": _response(model, "completed", done)},
    ]
    for n, event in enumerate(events):
        event["sequence_number"] = n
    body = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _backend(form: str = "skipped") -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        stream, model = bool(body.get("stream")), body["model"]
        if request.url.path.endswith("/responses"):
            return _responses(model, stream)
        if request.url.path.endswith("/completions") and "prompt" in body:
            return _completions(model, stream, form)
        return _chat(model, stream)

    return answer


def _config() -> Any:
    chat_only = {
        "name": "together",
        "kind": "together",
        "base_url": "http://together.test/v1",
        "key": "k",
        "capabilities": ["chat", "logprobs"],
        "models": {MODEL: {"id": "openai/gpt-oss-120b", "price": {"input": 0.1, "output": 0.5}}},
    }
    return settings(apps=APPS, providers=[chat_only])


def _stream_text(raw: str, route: str) -> str:
    """What a client reads as the answer from a stream."""
    parts = []
    for line in raw.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        doc = json.loads(line[6:])
        for choice in doc.get("choices") or ():
            parts.append(choice.get("text") or (choice.get("delta") or {}).get("content") or "")
        if route == "responses" and doc.get("type") == "response.output_text.delta":
            parts.append(doc["delta"])
    return "".join(parts)


ROUTES = {
    "chat": (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "q"}], "logprobs": True},
    ),
    "completions": ("/v1/completions", {"prompt": "q", "logprobs": 1}),
    "responses": ("/v1/responses", {"input": "q", "store": False}),
}


# The provider serves chat only (with logprobs), no completions: that pair is not a case.
CASES = [
    (route, stream, where)
    for route in ("chat", "completions", "responses")
    for stream in (False, True)
    for where in ("local", "hosted")
    if not (route == "completions" and where == "hosted")
]


@pytest.mark.parametrize(("route", "stream", "where"), CASES)
async def test_no_reasoning_reaches_a_stripping_app(route: str, stream: bool, where: str) -> None:
    upstreams = Upstreams({"pod-a.test": _backend(), "together.test": _backend()})
    path, extra = ROUTES[route]
    body = {"model": MODEL, **extra, **({"stream": True} if stream else {})}
    headers = {**AUTH, "x-gptoss-route": where}
    async with running_router(_config(), upstreams) as client:
        response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["x-gptoss-backend"] == ("local" if where == "local" else "together")
    for leak in ("SECRET", "THOUGHT", "analysis", "reasoning_text", '"reasoning"'):
        assert leak not in response.text
    if stream:
        assert _stream_text(response.text, route) == "The answer"
        return
    doc = response.json()
    if route == "chat":
        tokens = [e["token"] for e in doc["choices"][0]["logprobs"]["content"]]
        assert doc["choices"][0]["message"]["content"] == "The answer"
        assert tokens == ["The", " answer"]
    elif route == "completions":
        assert doc["choices"][0]["text"] == "The answer"
        assert doc["choices"][0]["logprobs"]["tokens"] == ["antfinalThe", " answer"][1:]
    else:
        assert [item["type"] for item in doc["output"]] == ["message"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("form", ["special", "plain"])
async def test_completions_text_loses_its_analysis_channel_in_either_form(
    form: str, stream: bool
) -> None:
    upstreams = Upstreams({"pod-a.test": _backend(form)})
    body = {"model": MODEL, "prompt": "q", "logprobs": 1, "stream": stream}
    async with running_router(_config(), upstreams) as client:
        response = await client.post("/v1/completions", json=body, headers=AUTH)
    assert "SECRET" not in response.text and "THOUGHT" not in response.text
    text = (
        _stream_text(response.text, "completions")
        if stream
        else response.json()["choices"][0]["text"]
    )
    assert text == "The answer"


async def test_an_app_that_may_see_reasoning_gets_the_completions_text_as_it_came() -> None:
    upstreams = Upstreams({"pod-a.test": _backend()})
    async with running_router(settings(), upstreams) as client:
        response = await client.post("/v1/completions", json={"model": MODEL, "prompt": "q"})
    assert response.json()["choices"][0]["text"] == "".join(HARMONY_PIECES["skipped"])


def test_a_plain_stream_is_held_back_only_until_it_cannot_open_the_channel() -> None:
    texts = ReasoningText()
    shown = []
    for piece in ["an", "swer: 42", " and more"]:
        choice = {"index": 0, "text": piece, "logprobs": None}
        texts.choice(choice, last=False)
        shown.append(choice["text"])
    assert shown == ["", "answer: 42", " and more"]
    cut_short = ReasoningText()
    choice = {"index": 0, "text": "analysisSECRET", "finish_reason": "length"}
    cut_short.choice(choice, last=True)
    assert choice["text"] == ""
