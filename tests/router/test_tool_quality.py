"""Tool-call quality: calls checked against the request's schemas, validity per backend over a
window, and backends gated off requests with tools (pure state, then through the router)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from router_fakes import MODEL, Upstreams, running_router, settings, sse

from gptoss_router.openai.tool_calls import StreamCalls, ToolCall, Tools, calls_in_document
from gptoss_router.state.tool_quality import ToolCallQuality

PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": PARAMS}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def quality(clock: Clock, **kw: Any) -> ToolCallQuality:
    args: dict[str, Any] = {
        "min_validity": 0.9,
        "min_samples": 10,
        "window_s": 60.0,
        "base_gate_s": 30.0,
        "max_gate_s": 120.0,
    }
    return ToolCallQuality(**(args | kw), clock=clock)


# --- the checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "verdict"),
    [
        (ToolCall("get_weather", '{"city": "Paris"}'), "valid"),
        (ToolCall("get_weather", '{"city": "Paris"'), "invalid_json"),
        (ToolCall("get_wether", '{"city": "Paris"}'), "unknown_function"),
        (ToolCall("get_weather", '{"city": 3}'), "schema"),
        (ToolCall("get_weather", '{"town": "Paris"}'), "schema"),
        (ToolCall("get_weather", ""), "schema"),  # no arguments: {} lacks the required city
    ],
)
def test_a_call_is_valid_only_with_a_known_name_and_arguments_its_schema_takes(
    call: ToolCall, verdict: str
) -> None:
    tools = Tools.of("chat", {"tools": CHAT_TOOLS})
    assert tools is not None and tools.check(call) == verdict
    responses = Tools.of("responses", {"tools": RESPONSES_TOOLS})
    assert responses is not None and responses.check(call) == verdict


def test_requests_without_functions_or_with_unusable_schemas() -> None:
    assert Tools.of("chat", {}) is None
    assert Tools.of("completions", {"tools": CHAT_TOOLS}) is None
    assert Tools.of("responses", {"tools": [{"type": "web_search"}]}) is None
    loose = Tools.of("chat", {"tools": [{"type": "function", "function": {"name": "f"}}]})
    broken = {"type": "function", "function": {"name": "f", "parameters": {"type": 3}}}
    odd = Tools.of("chat", {"tools": [broken]})
    assert loose is not None and loose.check(ToolCall("f", '{"any": 1}')) == "valid"
    assert odd is not None and odd.check(ToolCall("f", "[1]")) == "valid"


def _tools(parameters: dict[str, Any]) -> Tools:
    function = {"name": "f", "parameters": parameters}
    tools = Tools.of("chat", {"tools": [{"type": "function", "function": function}]})
    assert tools is not None
    return tools


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"where": {"$ref": "#/$defs/Place"}}},
        {"$dynamicRef": "#meta"},
        {"properties": {"where": {"$ref": "urn:example:place"}}},
        {"properties": {"where": {"$ref": "#/properties/where"}}},  # refers to itself forever
    ],
)
def test_a_schema_whose_references_cannot_be_followed_lets_calls_pass_unchecked(
    parameters: dict[str, Any],
) -> None:
    tools = _tools(parameters)
    assert tools.check(ToolCall("f", '{"where": "Lyon"}')) == "valid"
    assert tools.check(ToolCall("f", '{"where": 3}')) == "valid"  # no longer checked at all
    assert tools.check(ToolCall("f", '{"where": ')) == "invalid_json"  # still JSON, still named
    assert tools.check(ToolCall("g", "{}")) == "unknown_function"


def test_references_inside_the_schema_and_to_the_metaschema_are_still_followed() -> None:
    local = _tools(
        {"$defs": {"Place": {"type": "string"}}, "properties": {"where": {"$ref": "#/$defs/Place"}}}
    )
    assert local.check(ToolCall("f", '{"where": 3}')) == "schema"
    meta = _tools({"properties": {"s": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}})
    assert meta.check(ToolCall("f", '{"s": {"type": 5}}')) == "schema"
    assert meta.check(ToolCall("f", '{"s": {"type": "object"}}')) == "valid"


def test_a_remote_reference_is_never_fetched() -> None:
    asked: list[str] = []

    class Schemas(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # jsonschema's default registry would fetch the $ref here
            asked.append(self.path)
            body = json.dumps({"type": "string"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Schemas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = f"http://127.0.0.1:{server.server_address[1]}/place.json"
        tools = _tools({"properties": {"where": {"$ref": remote}}})
        assert tools.check(ToolCall("f", '{"where": 3}')) == "valid"
    finally:
        server.shutdown()
        thread.join()
    assert asked == []


def test_calls_are_found_in_whole_answers_and_when_streams_complete_them() -> None:
    chat = {
        "choices": [
            {
                "message": {
                    "tool_calls": [
                        {"function": {"name": "a", "arguments": "{}"}},
                        {"function": {"name": "b", "arguments": "{"}},
                    ]
                }
            }
        ]
    }
    assert calls_in_document("chat", chat) == [ToolCall("a", "{}"), ToolCall("b", "{")]
    response = {"output": [{"type": "reasoning"}, {"type": "function_call", "name": "a"}]}
    assert calls_in_document("responses", response) == [ToolCall("a", "null")]
    stream = StreamCalls("chat")
    for piece in ({"index": 0, "function": {"name": "a", "arguments": '{"x'}}, {"index": 0}):
        assert stream.feed({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]}) == []
    stream.feed({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": '": 1}'}}]}}]})
    assert stream.finish() == [ToolCall("a", '{"x": 1}')]
    events = StreamCalls("responses")
    item = {"type": "function_call", "name": "a", "arguments": "{}"}
    assert events.feed({"type": "response.output_item.added", "item": item}) == []
    done = {"type": "response.output_item.done", "item": item}
    assert events.feed(done) == [ToolCall("a", "{}")]


# --- the window and the gate ------------------------------------------------------------------


def test_a_backend_is_gated_once_enough_calls_fall_below_the_rate() -> None:
    clock = Clock()
    book = quality(clock)
    for _ in range(8):
        assert book.record("groq", MODEL, True) is None
    assert book.record("groq", MODEL, False) is None  # 8 of 9: too few samples yet
    gating = book.record("groq", MODEL, False)
    assert gating is not None and (gating.valid, gating.samples, gating.seconds) == (8, 10, 30)
    assert "8 of the last 10" in gating.reason
    assert book.is_gated("groq", MODEL) and not book.is_gated("groq", "other")
    assert book.gated() == [("groq", MODEL)]
    assert book.record("groq", MODEL, False) is None  # late answers do not count while gated
    clock.now += 30
    assert not book.is_gated("groq", MODEL) and book.rate("groq", MODEL) == (0, 0)


def test_good_calls_keep_a_backend_in_and_old_calls_leave_the_window() -> None:
    clock = Clock()
    book = quality(clock)
    for i in range(100):
        assert book.record("pod", MODEL, i % 20 != 0) is None  # 95 % valid
    for _ in range(5):
        book.record("slow", MODEL, False)
    clock.now += 61
    assert book.rate("slow", MODEL) == (0, 0)
    for _ in range(9):
        assert book.record("slow", MODEL, True) is None
    assert book.record("slow", MODEL, False) is None  # 9 of 10: at the threshold, not below


def test_gates_back_off_and_a_zero_threshold_never_gates() -> None:
    clock = Clock()
    book = quality(clock, min_samples=2)
    seconds = []
    for _ in range(6):
        book.record("groq", MODEL, False)
        gating = book.record("groq", MODEL, False)
        assert gating is not None
        seconds.append(gating.seconds)
        clock.now += gating.seconds
    assert seconds == [30, 60, 90, 120, 120, 120]
    clock.now += 1000  # behaved long enough: the backoff starts over
    book.record("groq", MODEL, False)
    gating = book.record("groq", MODEL, False)
    assert gating is not None and gating.seconds == 30
    book.forget("groq")
    assert book.gated() == []
    off = quality(clock, min_validity=0.0, min_samples=1)
    assert all(off.record("groq", MODEL, False) is None for _ in range(50))


# --- through the router -----------------------------------------------------------------------

BAD_ARGS = '{"city": 3}'
GOOD_ARGS = '{"city": "Paris"}'


def _chat_call(model: str, arguments: str, stream: bool) -> httpx.Response:
    if not stream:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
            },
        )

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    head = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    middle = len(arguments) // 2
    pieces = [arguments[:middle], arguments[middle:]]
    body = sse(
        chunk({"role": "assistant", "tool_calls": [head]}),
        *(chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces),
        chunk({}, "tool_calls"),
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        },
        "[DONE]",
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _response_call(model: str, arguments: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "resp_up",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": arguments,
                    "status": "completed",
                }
            ],
            "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
        },
    )


def _plain(model: str, *, responses: bool = False) -> httpx.Response:
    if responses:
        message = {
            "type": "message",
            "id": "msg_2",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        }
        return httpx.Response(
            200,
            json={
                "id": "resp_2",
                "object": "response",
                "created_at": 1,
                "status": "completed",
                "model": model,
                "output": [message],
                "usage": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12},
            },
        )
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-2",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hi"},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        },
    )


def _backend(arguments: str) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        model = body["model"]
        if not body.get("tools"):
            return _plain(model, responses=request.url.path.endswith("/responses"))
        if request.url.path.endswith("/responses"):
            return _response_call(model, arguments)
        return _chat_call(model, arguments, bool(body.get("stream")))

    return answer


def _request(route: str, stream: bool, tools: bool = True) -> tuple[str, dict[str, Any]]:
    if route == "chat":
        body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "w?"}]}
        if tools:
            body["tools"] = CHAT_TOOLS
        path = "/v1/chat/completions"
    else:
        body = {"model": MODEL, "input": "w?", "store": False}
        if tools:
            body["tools"] = RESPONSES_TOOLS
        path = "/v1/responses"
    if stream:
        body["stream"] = True
    return path, body


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["chat", "responses"])
async def test_a_provider_with_malformed_tool_calls_is_gated_for_tool_requests_only(
    route: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """groq (the cheaper provider) answers every tool call with arguments its schema refuses:
    after three such calls it gets no request with tools, fireworks takes them, and groq
    still serves requests without tools."""
    upstreams = Upstreams({"groq.test": _backend(BAD_ARGS), "fireworks.test": _backend(GOOD_ARGS)})
    config = settings(pods=[], tuning={"tool_call_min_samples": 3})
    registry = CollectorRegistry()
    path, body = _request(route, stream)
    async with running_router(config, upstreams, registry) as client:
        served = []
        for _ in range(5):
            response = await client.post(path, json=body)
            assert response.status_code == 200
            served.append(response.headers["x-gptoss-backend"])
            if stream:  # the stream reaches the client whole, the bad call included
                assert "get_weather" in response.text
                assert ("[DONE]" if route == "chat" else "response.completed") in response.text
        plain_path, plain = _request(route, stream=False, tools=False)
        plain_response = await client.post(plain_path, json=plain)
        metrics = (await client.get("/metrics")).text
    assert served == ["groq", "groq", "groq", "fireworks", "fireworks"]
    assert plain_response.headers["x-gptoss-backend"] == "groq"
    assert (
        registry.get_sample_value(
            "gptoss_router_tool_calls_total", {"backend": "groq", "valid": "false"}
        )
        == 3
    )
    assert (
        registry.get_sample_value(
            "gptoss_router_tool_calls_total", {"backend": "fireworks", "valid": "true"}
        )
        == 2
    )
    assert 'gptoss_router_benched_backends{backend="groq",why="tool_calls"} 1.0' in metrics
    gated = [r.getMessage() for r in caplog.records if "gated off tool requests" in r.message]
    assert len(gated) == 1 and "0 of the last 3 tool calls were valid" in gated[0]


async def test_a_gated_backend_still_takes_tool_requests_when_nothing_else_can() -> None:
    upstreams = Upstreams({"groq.test": _backend("{")})
    config = settings(
        pods=[],
        tuning={"tool_call_min_samples": 2},
        providers=[
            {
                "name": "groq",
                "kind": "groq",
                "base_url": "http://groq.test/v1",
                "key": "k",
                "models": {MODEL: {"id": "g", "price": {"input": 0.1, "output": 0.5}}},
            }
        ],
    )
    path, body = _request("chat", stream=False)
    async with running_router(config, upstreams) as client:
        statuses = [(await client.post(path, json=body)).status_code for _ in range(4)]
    assert statuses == [200] * 4


# A function whose parameters refer to a definition the schema does not have (vLLM serves it:
# with tool_choice auto it never resolves the schema).
DANGLING = {"type": "object", "properties": {"city": {"$ref": "#/$defs/City"}}}


def _responses_stream_call(model: str, arguments: str) -> httpx.Response:
    """A vLLM pod's streamed Responses answer with one function call, item by item."""
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather"}
    added = {**call, "arguments": "", "status": "in_progress"}
    done = {**call, "arguments": arguments, "status": "completed"}
    response = {"id": "resp_up", "object": "response", "created_at": 1, "model": model}
    usage = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}
    events = [
        {"type": "response.created", "response": {**response, "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": added},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": arguments},
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {
            "type": "response.completed",
            "response": {**response, "status": "completed", "output": [done], "usage": usage},
        },
    ]
    body = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in ({**e, "sequence_number": n} for n, e in enumerate(events))
    )
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _pod(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if request.url.path.endswith("/responses") and body.get("stream"):
        return _responses_stream_call(body["model"], GOOD_ARGS)
    return _backend(GOOD_ARGS)(request)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["chat", "responses"])
async def test_a_call_to_a_function_whose_schema_cannot_be_resolved_is_answered_unchecked(
    route: str, stream: bool
) -> None:
    upstreams = Upstreams({"pod-a.test": _pod})
    registry = CollectorRegistry()
    path, body = _request(route, stream)
    function = body["tools"][0].get("function", body["tools"][0])
    function["parameters"] = DANGLING
    body.pop("store", None)  # Responses: kept, to be read back
    async with running_router(settings(providers=[]), upstreams, registry) as client:
        response = await client.post(path, json=body)
        assert response.status_code == 200
        if route == "responses":
            kept = response.json() if not stream else None
            if stream:
                created = next(
                    json.loads(line[6:])
                    for line in response.text.splitlines()
                    if line.startswith("data: ") and '"response.created"' in line
                )
                kept = created["response"]
            assert kept is not None
            read_back = await client.get(f"/v1/responses/{kept['id']}")
            assert read_back.status_code == 200
            assert read_back.json()["status"] == "completed"
    assert "get_weather" in response.text
    if stream:
        assert ("data: [DONE]" if route == "chat" else "response.completed") in response.text
    valid = {"backend": "local", "valid": "true"}
    assert registry.get_sample_value("gptoss_router_tool_calls_total", valid) == 1
    assert (
        registry.get_sample_value(
            "gptoss_router_requests_total",
            {"route": route, "model": MODEL, "backend": "local", "outcome": "ok"},
        )
        == 1
    )
