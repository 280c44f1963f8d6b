"""Hostile input against the real router (uvicorn, the production protocol) with a vLLM simulator
upstream: bodies, headers and pacing generated or crafted to break it (hypothesis). Never a 5xx
or a hang; every refusal is an OpenAI-shaped 4xx, naming the parameter when one is at fault;
size and time limits hold. ``test_openapi_fuzz.py`` does the same from the OpenAPI document."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live import fleet, router_in_thread, router_settings

pytestmark = pytest.mark.timeout(180)
MODEL = "gpt-oss-120b"
LIMITS = {
    "max_body_bytes": 64 * 1024,
    "body_timeout_s": 0.5,
    "max_header_bytes": 8 * 1024,
    "header_timeout_s": 0.5,
}
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@pytest.fixture(scope="module")
def router() -> Iterator[str]:
    with fleet() as sims, router_in_thread(router_settings(sims, tuning=LIMITS)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def http(router: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=router, timeout=10) as client:
        yield client


def openai_error(response: httpx.Response) -> dict[str, Any]:
    """The error object of an OpenAI-shaped refusal (asserting the shape)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] is None or isinstance(error["param"], str)
    return dict(error)


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "model": st.one_of(st.integers(), st.lists(st.text(), max_size=2), st.just("")),
    "messages": st.one_of(st.integers(), st.text(), st.dictionaries(st.text(), st.integers())),
    "stream": st.one_of(st.integers(), st.text(), st.lists(st.booleans(), max_size=2)),
    "stream_options": st.one_of(st.integers(), st.text(min_size=1), st.lists(st.none())),
    "max_tokens": st.one_of(
        st.integers(max_value=0),
        st.text(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
    ),
    "reasoning_effort": st.one_of(st.text().filter(lambda t: t not in ("low", "medium", "high"))),
}


@given(data=st.data())
@EXAMPLES
def test_a_parameter_of_the_wrong_type_is_a_400_naming_it(http: httpx.Client, data: Any) -> None:
    name = data.draw(st.sampled_from(sorted(WRONG)))
    value = data.draw(WRONG[name])
    if name == "reasoning_effort" and value in ("none", "minimal", "xhigh", "max"):
        return
    response = http.post("/v1/chat/completions", json={**CHAT, name: value})
    error = openai_error(response)
    assert response.status_code == 400 and error["param"] == name


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(extra=st.dictionaries(st.text(max_size=20), JSON, max_size=6), route=st.integers(0, 2))
@EXAMPLES
def test_any_json_body_is_answered_below_500(
    http: httpx.Client, extra: dict[str, Any], route: int
) -> None:
    path = ("/v1/chat/completions", "/v1/completions", "/v1/responses")[route]
    response = http.post(path, json={**CHAT, "stream": False, **extra})
    if response.status_code != 200:
        openai_error(response)


@given(body=st.binary(max_size=512))
@EXAMPLES
def test_any_bytes_as_a_body_are_refused_in_openai_shape(http: httpx.Client, body: bytes) -> None:
    response = http.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    if response.status_code != 200:
        openai_error(response)


HEADER_VALUES = st.one_of(
    st.sampled_from(["nan", "-1", "1/2/3", "inf", "1e999", "local hosted", "0.5/", ""]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)


@given(name=st.sampled_from(["x-gptoss-route", "x-gptoss-max-price"]), value=HEADER_VALUES)
@EXAMPLES
def test_odd_router_headers_are_refused_naming_the_header(
    http: httpx.Client, name: str, value: str
) -> None:
    response = http.post("/v1/chat/completions", json=CHAT, headers={name: value})
    if response.status_code != 200:
        assert openai_error(response)["param"] == name


def test_a_request_that_is_not_valid_http_is_a_400_in_openai_shape(router: str) -> None:
    answer, _ = raw(router, b"POST /v1/chat/completions HTTP/1.1\r\nx-bad: \x7f\x00\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["code"] == "invalid_http"


def invalid_json_cases() -> list[bytes]:
    deep = b"[" * 200_000 + b"]" * 200_000
    return [
        b'{"model":"gpt-oss-120b","messages":' + deep + b"}",
        b'{"model":"gpt-oss-120b","messages":"\xff\xfe\xfd"}',
        b'{"model":"gpt-oss-120b","messages":[],"max_tokens":' + b"9" * 5000 + b"}",
        b'{"model":"gpt-oss-120b",',
    ]


@pytest.mark.parametrize("body", invalid_json_cases(), ids=["deep", "utf8", "digits", "cut"])
def test_deep_broken_or_invalid_utf8_json_is_a_400(http: httpx.Client, body: bytes) -> None:
    response = http.post(
        "/v1/chat/completions", content=body[:60_000], headers={"content-type": "application/json"}
    )
    error = openai_error(response)
    assert response.status_code == 400 and "JSON" in error["message"]


def test_a_body_over_the_size_limit_is_a_413_declared_or_streamed(http: httpx.Client) -> None:
    huge = json.dumps({**CHAT, "pad": "x" * 100_000}).encode()
    declared = http.post("/v1/chat/completions", content=huge)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    streamed = http.post("/v1/chat/completions", content=chunks())
    for response in (declared, streamed):
        error = openai_error(response)
        assert response.status_code == 413 and error["code"] == "request_too_large"


def raw(router: str, data: bytes, *, then_wait_s: float = 5.0) -> tuple[bytes, float]:
    """Send ``data`` on a fresh connection and stop sending; the answer and how long it took
    (the connection must then be closed by the router)."""
    host, port = router.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=then_wait_s) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def test_headers_over_the_size_limit_are_a_431_before_the_app(router: str) -> None:
    request = b"POST /v1/chat/completions HTTP/1.1\r\nhost: r\r\nx-pad: " + b"a" * 1_000_000
    answer, _ = raw(router, request + b"\r\ncontent-length: 2\r\n\r\n{}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert json.loads(body)["error"]["code"] == "headers_too_large"


def test_a_client_sending_headers_or_body_too_slowly_is_answered_408(router: str) -> None:
    slow_head, head_s = raw(router, b"POST /v1/chat/completions HTTP/1.1\r\nhost: r\r\n")
    partial = b"POST /v1/chat/completions HTTP/1.1\r\nhost: r\r\ncontent-length: 100\r\n\r\n{"
    slow_body, body_s = raw(router, partial)
    assert slow_head.startswith(b"HTTP/1.1 408") and head_s < 3
    assert slow_body.startswith(b"HTTP/1.1 408") and body_s < 3
    error = json.loads(slow_body.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_timeout"
