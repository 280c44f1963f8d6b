"""Limits on the request line and headers, which uvicorn's httptools protocol does not bound.

uvicorn with httptools buffers a request's headers however large (20 MB were accepted) and
waits for them however slowly they come, so one client can hold memory or a connection for
ever. ``limited_protocol`` returns uvicorn's protocol with two limits, each answered with an
OpenAI-shaped error before the app sees anything, and the connection closed:

    431  the request line and headers are larger than ``max_header_bytes``
    408  the headers did not all arrive within ``header_timeout_s`` of their first byte

and what the HTTP parser refuses (a control character in a header, a broken request line) is
answered 400 in the same shape instead of uvicorn's plain text.

A request whose headers arrive in one read (nearly all) pays one counter per header and no
timer; the timer is armed only when a read ends in the middle of the headers. The body's
limits are the app's (``proxy.asgi.read_body``).

This subclasses uvicorn's ``HttpToolsProtocol``, which is not public API: ``pyproject.toml``
bounds uvicorn below its next minor release, and the wire tests (``tests/router/
test_hostile_input.py``) fail if a release changes what the subclass relies on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["limited_protocol"]


def _refusal(status: int, reason: str, message: str, code: str) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Limited(HttpToolsProtocol):
    max_header_bytes = 60 * 1024
    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._in_headers = False
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_headers and self._header_timer is None and not self._refused:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._in_headers = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer to what its parser refuses is plain text; ours is OpenAI's shape
        # (and after a refusal of ours the parser's error says nothing new).
        if not self._refused:
            self._refuse(
                _refusal(400, "Bad Request", "The request is not valid HTTP/1.1.", "invalid_http")
            )

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refuse(
                _refusal(
                    431,
                    "Request Header Fields Too Large",
                    f"The request line and headers are larger than {self.max_header_bytes} bytes.",
                    "headers_too_large",
                )
            )
            raise ValueError("headers too large")  # stops the parser (uvicorn sees a 400)

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._in_headers and not self._refused:
            message = f"The request headers did not arrive within {self.header_timeout_s:g} s."
            self._refuse(_refusal(408, "Request Timeout", message, "request_timeout"))

    def _refuse(self, answer: bytes) -> None:
        self._refused = True
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


def limited_protocol(*, max_header_bytes: int, header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with these limits (pass it as uvicorn's ``http``)."""
    return type(
        "LimitedHttpTools",
        (_Limited,),
        {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s},
    )
