"""One attempt against one backend, up to its first byte, and what became of it.

An attempt is *committed* once it yields its first body byte, and only then does anything go
to the client (the gRPC commit rule, grpc/proposal A6: servers and proxies delay headers until the
first message). Before that, every failure is a ``Failure`` the caller may retry elsewhere:

    connect errors, resets, timeouts      (Envoy ``connect-failure``/``reset``/``5xx``)
    5xx, 429, the dialect's overload codes (Groq 498; 503 from Fireworks and Together)
    401/403 from a provider               the router's own credentials, not the caller's

Other 4xx are the caller's fault and come back as ``Rejected`` with an OpenAI-shaped body.
Each provider's overload statuses: docs/sources.md, Providers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from gptoss_router.openai.error_bodies import normalise_error
from gptoss_router.routing.backends import Target
from gptoss_router.state.provider_limits import retry_after_seconds, spent_for

__all__ = ["Failure", "Opened", "Rejected", "attempt"]

_STREAM_HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}
_DOCUMENT_HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that failed before its first byte."""

    reason: str
    status: int
    message: str
    retry_after: float | None = None
    spent_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The backend refused the request itself; pass its error on."""

    status: int
    body: dict[str, Any]


@dataclass(slots=True)
class Opened:
    """A committed attempt: its response, its first bytes and how long they took.

    The rest of a stream is read with ``response.content.readany()`` (``b""`` at its end);
    whoever reads it calls ``response.release()`` when done, or ``close()`` if it gives up.
    """

    response: aiohttp.ClientResponse
    first: bytes
    ttft_s: float


async def attempt(
    session: aiohttp.ClientSession,
    target: Target,
    path: str,
    body: bytes,
    *,
    stream: bool,
    first_byte_s: float,
    connect: aiohttp.ClientTimeout,
) -> Opened | Failure | Rejected:
    """Send ``body`` to ``target`` and wait for its first byte (all of it when not streaming).

    ``connect`` bounds connecting; ``first_byte_s`` bounds everything up to the first byte.
    """
    headers = _STREAM_HEADERS if stream else _DOCUMENT_HEADERS
    if target.headers:
        headers = {**headers, **target.headers}
    started = time.perf_counter()
    response: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(first_byte_s):
            response = await session.post(
                f"{target.base_url}/{path}",
                data=body,
                headers=headers,
                timeout=connect,
                allow_redirects=False,
            )
            if response.status >= 400:
                return _refusal(target, response, await response.read())
            first = await _first(response) if stream else await response.read()
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        failure = Failure("connect", 502, f"could not connect to {target.label}")
    except TimeoutError:
        failure = Failure("timeout", 504, f"{target.label} did not answer in time")
    except aiohttp.ClientError:
        failure = Failure("reset", 502, f"{target.label} dropped the connection")
    except BaseException:
        if response is not None:
            response.close()
        raise
    else:
        if first:
            return Opened(response, first, time.perf_counter() - started)
        failure = Failure("reset", 502, f"{target.label} sent an empty response")
    if response is not None:
        response.close()
    return failure


async def _first(response: aiohttp.ClientResponse) -> bytes:
    content = response.content
    while True:
        chunk = await content.readany()
        if chunk or content.at_eof():
            return chunk


def _refusal(target: Target, response: aiohttp.ClientResponse, body: bytes) -> Failure | Rejected:
    status = response.status
    hosted_auth = target.kind == "hosted" and status in (401, 403)
    if status >= 500 or status == 429 or status in target.dialect.overload_statuses or hosted_auth:
        now = time.time()
        passed_on = 429 if status == 429 else 503 if status in (503, 498) else 502
        return Failure(
            reason=f"status_{status}",
            status=passed_on,
            message=f"{target.label} answered {status}",
            retry_after=retry_after_seconds(response.headers, now=now),
            spent_s=spent_for(status, response.headers, now=now),
        )
    return Rejected(status, normalise_error(status, body))
