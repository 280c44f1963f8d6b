"""The steady load of a chaos run: client loops of streamed chat requests, each outcome counted
in the phase the request started in."""

from __future__ import annotations

import asyncio

import aiohttp

from .plan import MODEL, ChaosPlan
from .report import Phase

__all__ = ["Load"]


class Load:
    """``clients`` loops of streamed requests; each outcome goes to the phase it started in."""

    def __init__(self, url: str, plan: ChaosPlan) -> None:
        self._url = f"{url}/v1/chat/completions"
        self._plan = plan
        self._body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Count to ten."}],
            "stream": True,
            "max_tokens": plan.max_tokens,
        }
        self.phase = Phase("-", "none")
        self._stop = asyncio.Event()

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(self._client(http) for _ in range(self._plan.clients)))

    def stop(self) -> None:
        self._stop.set()

    async def _client(self, http: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            phase = self.phase
            phase.requests += 1
            await self._one(http, phase)

    async def _one(self, http: aiohttp.ClientSession, phase: Phase) -> None:
        status = 0
        text = b""
        try:
            async with asyncio.timeout(self._plan.hang_s):
                async with http.post(self._url, json=self._body) as response:
                    status = response.status
                    if status != 200:
                        phase.failed += 1
                        key = str(status)
                        phase.statuses[key] = phase.statuses.get(key, 0) + 1
                        await response.read()
                        return
                    async for chunk in response.content.iter_any():
                        text += chunk
        except TimeoutError:
            phase.hung += 1
            return
        except aiohttp.ClientError:
            if status == 0:
                phase.failed += 1
                phase.statuses["no answer"] = phase.statuses.get("no answer", 0) + 1
                return
        if b"data: [DONE]" in text:
            phase.ok += 1
        elif b'"error"' in text:
            self.phase.in_band += 1
        else:
            self.phase.truncated += 1
