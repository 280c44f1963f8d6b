"""Error envelopes from every upstream dialect come out in OpenAI's shape."""

from __future__ import annotations

import json

from gptoss_router.openai.error_bodies import error_event, normalise_error


def test_vllm_integer_codes_become_a_null_code_with_the_message_kept() -> None:
    body = json.dumps(
        {"error": {"message": "bad", "type": "BadRequestError", "param": None, "code": 400}}
    )
    assert normalise_error(400, body.encode()) == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}
    }


def test_a_flat_envelope_is_nested() -> None:
    body = json.dumps({"message": "too many", "type": "rate_limit", "code": "queue_full"})
    out = normalise_error(429, body.encode())
    assert out["error"]["message"] == "too many" and out["error"]["code"] == "queue_full"


def test_a_body_that_is_not_json_still_gives_an_openai_error() -> None:
    out = normalise_error(502, b"<html>bad gateway</html>")
    assert out["error"]["type"] == "server_error" and "bad gateway" in out["error"]["message"]


def test_the_in_band_stream_error_is_an_sse_data_event_with_an_error_object() -> None:
    event = error_event("broke", responses=False)
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[6:])["error"]["message"] == "broke"


def test_the_responses_stream_error_is_a_typed_error_event() -> None:
    event = error_event("broke", responses=True)
    assert event.startswith(b"event: error\n")
