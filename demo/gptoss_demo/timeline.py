"""What the demo watches while it runs: replicas, requests by backend, spill, dollars, TTFT."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_demo.load import Tally
from gptoss_demo.stack import Stack

__all__ = ["Sample", "Timeline"]


@dataclass(frozen=True)
class Sample:
    t: float
    phase: str
    desired: int
    ready: int
    by_backend: dict[str, int]
    spilled: int
    dollars: float
    ttft_p50: float | None

    def line(self) -> str:
        backends = ", ".join(f"{k} {v}" for k, v in sorted(self.by_backend.items())) or "none"
        ttft = f"{self.ttft_p50:.2f}s" if self.ttft_p50 is not None else "-"
        return (
            f"[{self.t:5.0f}s] {self.phase:<11} replicas {self.ready}/{self.desired} ready | "
            f"requests: {backends} | spilled {self.spilled} | ${self.dollars:.4f} | "
            f"TTFT p50 {ttft}"
        )


def _router_totals(text: str) -> tuple[int, float]:
    spilled, dollars = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gptoss_router_spilled_requests_total":
                spilled += sample.value
            elif sample.name == "gptoss_router_cost_dollars_total":
                dollars += sample.value
    return int(spilled), dollars


@dataclass
class Timeline:
    stack: Stack
    tally: Tally
    say: Callable[[str], None]
    phase: str = "starting"
    samples: list[Sample] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def _replicas(self) -> tuple[int, int]:
        result = self.stack.kubectl(
            "get", "gptoss", "chat", "-n", self.stack.namespace, "-o", "json"
        )
        if result.returncode != 0:
            return 0, 0
        cr = json.loads(result.stdout)
        return int(cr["spec"].get("replicas", 0)), int(cr.get("status", {}).get("readyReplicas", 0))

    async def sample(self, http: httpx.AsyncClient) -> Sample:
        desired, ready = await asyncio.to_thread(self._replicas)
        try:
            text = (await http.get(f"{self.stack.router_url}/metrics")).text
            spilled, dollars = _router_totals(text)
        except httpx.HTTPError:  # a busy moment: keep the last figures rather than zeros
            last = self.samples[-1] if self.samples else None
            spilled, dollars = (last.spilled, last.dollars) if last else (0, 0.0)
        sample = Sample(
            t=time.monotonic() - self.started,
            phase=self.phase,
            desired=desired,
            ready=ready,
            by_backend=dict(self.tally.by_backend),
            spilled=spilled,
            dollars=dollars,
            ttft_p50=self.tally.ttft_p50(),
        )
        self.samples.append(sample)
        return sample

    async def watch(self, stop: asyncio.Event, every: float = 2.0) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                self.say((await self.sample(http)).line())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every)
