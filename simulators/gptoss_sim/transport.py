"""Reaching below ASGI to the TCP connection, to reset it or cut it mid-response.

ASGI gives an app no handle on its socket, so the servers run uvicorn with a protocol class
that adds the connection's transport to each request's ``scope["extensions"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TRANSPORT_KEY = "gptoss_sim.transport"


def _exposing(app: ASGIApp, protocol: asyncio.Protocol) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {**scope.get("extensions", {}), TRANSPORT_KEY: protocol.transport}  # type: ignore[attr-defined]
        await app({**scope, "extensions": extensions}, receive, send)

    return wrapped


class HttpToolsWithTransport(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _exposing(self.app, self)


class H11WithTransport(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _exposing(self.app, self)


def cut(scope: Scope, *, reset: bool) -> bool:
    """Drop the request's connection; with ``reset``, send a TCP RST instead of a FIN.

    Returns False when the server gives no transport (then the caller must fail otherwise).
    """
    transport: asyncio.Transport | None = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
