"""ASGI middleware that applies faults to requests, by header or by schedule.

``error_after`` ends a stream the way vLLM's generator does when its engine fails mid-request
(HTTP 200 already sent: the error as a ``data:`` event, then ``data: [DONE]``), and the app then
sees its client leave, so the engine drops the request as vLLM's does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gptoss_sim import transport
from gptoss_sim.clock import Clock
from gptoss_sim.errors import SimError
from gptoss_sim.faults import FAULT_HEADER, Fault, FaultSchedule, parse_fault

ErrorRenderer = Callable[[SimError], tuple[dict[str, Any], dict[str, str]]]
TRICKLE_BYTES = 16
ENGINE_FAILED = "simulated fault: the engine failed while generating"
DONE = b"data: [DONE]\n\n"


class FaultInjector:
    """The fault state of one simulator: its schedule and its request count."""

    def __init__(self, clock: Clock, schedule: FaultSchedule | None = None) -> None:
        self._clock = clock
        self._started = clock.now()
        self.schedule = schedule or FaultSchedule()
        self.requests = 0
        self._release: asyncio.Event | None = None

    def set_schedule(self, schedule: FaultSchedule) -> None:
        self.schedule = schedule

    def decide(self, header: str | None, path: str = "/") -> Fault | None:
        self.requests += 1
        if header:
            return parse_fault(header)
        elapsed = self._clock.now() - self._started
        fault, self.schedule = self.schedule.pick(self.requests, elapsed, path)
        return fault

    def release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def release_hangs(self) -> None:
        """End every hanging request (called when the server stops)."""
        self.release_event().set()


class FaultMiddleware:
    def __init__(
        self, app: ASGIApp, injector: FaultInjector, render: ErrorRenderer, *, skip: str = "/_sim"
    ) -> None:
        self.app = app
        self.injector = injector
        self.render = render
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        header = headers.get(FAULT_HEADER.encode())
        try:
            fault = self.injector.decide(header.decode() if header else None, scope["path"])
        except SimError as error:
            await self._error(send, error)
            return
        if fault is None:
            await self.app(scope, receive, send)
            return
        await self._apply(fault, scope, receive, send)

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.reset:
            if not transport.cut(scope, reset=True):
                raise ConnectionResetError("fault: reset")
            return
        if fault.hang:
            await self._hang(scope, receive)
            return
        if fault.status is not None:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after else {}
            message = f"simulated fault: HTTP {fault.status}"
            await self._error(send, SimError(fault.status, message, headers=headers))
            return
        if fault.error_after is not None:
            await self._fail_in_band(fault.error_after, scope, receive, send)
            return
        await self.app(scope, receive, self._shaped_send(fault, scope, send))

    async def _fail_in_band(self, after: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the app's event stream on for ``after`` events, then end it with the engine's
        error event and ``[DONE]``; any other answer passes as it is."""
        body, _ = self.render(SimError(500, ENGINE_FAILED))
        ending = b"data: " + json.dumps(body).encode() + b"\n\n" + DONE
        ended = asyncio.Event()
        streaming = False
        left = after

        async def failing(message: Message) -> None:
            nonlocal streaming, left
            if ended.is_set():
                return
            if message["type"] == "http.response.start":
                streaming = _is_event_stream(message)
            if not streaming or message["type"] != "http.response.body":
                await send(message)
                return
            chunk: bytes = message.get("body", b"")
            cut = _after_events(chunk, left)
            if cut is None:
                left -= chunk.count(b"\n\n")
                await send(message)
                return
            ended.set()
            await send({"type": "http.response.body", "body": chunk[:cut] + ending})

        await self.app(scope, _until(ended, receive), failing)

    async def _hang(self, scope: Scope, receive: Receive) -> None:
        async def client_left() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waits = {
            asyncio.ensure_future(client_left()),
            asyncio.ensure_future(self.injector.release_event().wait()),
        }
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        transport.cut(scope, reset=False)

    async def _error(self, send: Send, error: SimError) -> None:
        body, extra = self.render(error)
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in {**extra, **error.headers}.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _shaped_send(self, fault: Fault, scope: Scope, send: Send) -> Send:
        sent = 0
        cut = False

        async def shaped(message: Message) -> None:
            nonlocal sent, cut
            if cut:
                return
            if message["type"] != "http.response.body" or not (
                fault.trickle or fault.disconnect_after
            ):
                await send(message)
                return
            body: bytes = message.get("body", b"")
            size = TRICKLE_BYTES if fault.trickle else max(1, len(body))
            slices = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
            for i, piece in enumerate(slices):
                if fault.disconnect_after is not None and sent >= fault.disconnect_after:
                    cut = True
                    transport.cut(scope, reset=False)
                    return
                if fault.trickle:
                    await asyncio.sleep(fault.trickle)
                last = i + 1 == len(slices)
                more = message.get("more_body", False) or not last
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                if piece:
                    sent += 1

        return shaped


def _is_event_stream(start: Message) -> bool:
    kind: bytes = dict(start.get("headers", [])).get(b"content-type", b"")
    return kind.startswith(b"text/event-stream")


def _after_events(chunk: bytes, events: int) -> int | None:
    """Where ``chunk`` ends its ``events``-th event (0: at its start); None if it ends fewer."""
    at = 0
    for _ in range(events):
        found = chunk.find(b"\n\n", at)
        if found < 0:
            return None
        at = found + 2
    return at


def _until(ended: asyncio.Event, receive: Receive) -> Receive:
    """``receive``, which says the client left once ``ended`` is set."""

    async def received() -> Message:
        if not ended.is_set():
            message = asyncio.ensure_future(receive())
            ending = asyncio.ensure_future(ended.wait())
            await asyncio.wait((message, ending), return_when=asyncio.FIRST_COMPLETED)
            ending.cancel()
            if message.done():
                return message.result()
            message.cancel()
        return {"type": "http.disconnect"}

    return received
