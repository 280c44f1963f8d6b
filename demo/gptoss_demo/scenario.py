"""The demo's story, in phases, through the router with the openai SDK:

1. ``local``: light load is served by the GPU replica (``x-gptoss-backend: local``).
2. ``saturate``: heavy load fills the replica's batch; the router spills the overflow to the
   cheapest provider that meets the latency target, and the autoscaler adds replicas.
3. ``failover``: the provider taking the spill starts failing (HTTP 503); the router fails over
   to another one without a client noticing.
4. ``idle``: the load stops; after the scale-down window the replicas go back to the minimum.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai

from gptoss_demo.load import Tally, run_load
from gptoss_demo.stack import DEMO_APP_KEY, Stack
from gptoss_demo.timeline import Timeline

__all__ = ["FULL", "SHORT", "Story", "Timing", "run_scenario"]

SAMPLE = Path(__file__).with_name("chat.yaml")


@dataclass(frozen=True)
class Timing:
    local_s: float
    saturate_s: float
    failover_s: float
    light: int
    heavy: int
    max_tokens: int
    idle_timeout_s: float


FULL = Timing(
    local_s=12, saturate_s=25, failover_s=20, light=2, heavy=48, max_tokens=96, idle_timeout_s=120
)
SHORT = Timing(
    local_s=6, saturate_s=12, failover_s=10, light=2, heavy=40, max_tokens=64, idle_timeout_s=90
)


@dataclass
class Story:
    """What happened, as the checks of the demo and of its end-to-end test see it."""

    served_locally: int = 0
    spilled_to: Counter[str] = field(default_factory=Counter)
    failed_provider: str | None = None
    failover_to: Counter[str] = field(default_factory=Counter)
    peak_replicas: int = 0
    final_replicas: int = 0
    min_replicas: int = 1
    client_errors: Counter[str] = field(default_factory=Counter)

    def problems(self) -> list[str]:
        found = []
        if self.served_locally == 0:
            found.append("no request was served by the local replica")
        if not self.spilled_to:
            found.append("nothing spilled to a provider under saturation")
        if self.failed_provider and not self.failover_to:
            found.append(f"no provider took over when {self.failed_provider} failed")
        if self.peak_replicas <= self.min_replicas:
            found.append("the autoscaler never added a replica")
        if self.final_replicas != self.min_replicas:
            found.append(f"replicas ended at {self.final_replicas}, not {self.min_replicas}")
        if sum(self.client_errors.values()):
            found.append(f"clients saw errors: {dict(self.client_errors)}")
        return found


def _cr(stack: Stack) -> dict[str, object]:
    result = stack.kubectl("get", "gptoss", "chat", "-n", stack.namespace, "-o", "json")
    return dict(json.loads(result.stdout)) if result.returncode == 0 else {}


def _spec_replicas(stack: Stack) -> int:
    spec = _cr(stack).get("spec", {})
    return int(spec.get("replicas", 0)) if isinstance(spec, dict) else 0


async def _until(what: str, probe: Callable[[], bool], within: float) -> None:
    """Poll ``probe`` (in a thread) every half second until it holds, or fail after ``within``."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(probe):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {within:.0f}s")
        await asyncio.sleep(0.5)


def _local_answers(stack: Stack) -> bool:
    client = openai.OpenAI(
        base_url=stack.router_api, api_key=DEMO_APP_KEY, max_retries=0, timeout=30
    )
    try:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-oss-120b",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            extra_headers={"x-gptoss-route": "local"},
        )
    except openai.APIError:
        return False
    finally:
        client.close()
    return raw.headers.get("x-gptoss-backend") == "local"


async def _fault(url: str, rules: list[str] | None) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        if rules is None:
            await http.delete(f"{url}/_sim/faults")
        else:
            await http.put(f"{url}/_sim/faults", json=rules)


async def _phase(
    stack: Stack, tally: Tally, *, concurrency: int, seconds: float, max_tokens: int
) -> Counter[str]:
    """Run one load phase; the requests each backend answered during it."""
    before = Counter(tally.by_backend)
    await run_load(
        stack.router_api,
        api_key=DEMO_APP_KEY,
        model="gpt-oss-120b",
        concurrency=concurrency,
        seconds=seconds,
        max_tokens=max_tokens,
        tally=tally,
    )
    during = Counter(tally.by_backend)
    during.subtract(before)
    return Counter({k: v for k, v in during.items() if v > 0})


async def run_scenario(
    stack: Stack, timing: Timing, say: Callable[[str], None]
) -> tuple[Story, Timeline]:
    story = Story()
    tally = Tally()
    timeline = Timeline(stack, tally, say)
    applied = stack.kubectl("apply", "-n", stack.namespace, "-f", str(SAMPLE))
    if applied.returncode != 0:
        raise RuntimeError(applied.stderr)
    say("applied GptOssDeployment chat (gpt-oss-120b on H100-80GB); waiting for it to be Ready")
    stop = asyncio.Event()
    watcher = asyncio.create_task(timeline.watch(stop))
    try:
        timeline.phase = "loading"
        waited = await asyncio.to_thread(
            stack.kubectl,
            "wait",
            "gptoss/chat",
            "-n",
            stack.namespace,
            "--for=condition=Ready",
            "--timeout=240s",
        )
        if waited.returncode != 0:
            raise RuntimeError(f"chat never became Ready: {waited.stderr}")
        await _until("the router to discover the replica", lambda: _local_answers(stack), 60)

        timeline.phase = "local"
        say(f"phase local: {timing.light} clients for {timing.local_s:.0f}s")
        local = await _phase(
            stack,
            tally,
            concurrency=timing.light,
            seconds=timing.local_s,
            max_tokens=timing.max_tokens,
        )
        story.served_locally = local["local"]

        timeline.phase = "saturate"
        say(f"phase saturate: {timing.heavy} clients for {timing.saturate_s:.0f}s")
        saturated = await _phase(
            stack,
            tally,
            concurrency=timing.heavy,
            seconds=timing.saturate_s,
            max_tokens=timing.max_tokens,
        )
        story.spilled_to = Counter({k: v for k, v in saturated.items() if k != "local"})

        failing = story.spilled_to.most_common(1)[0][0] if story.spilled_to else "groq"
        story.failed_provider = failing
        timeline.phase = "failover"
        say(f"phase failover: {failing} now answers 503; {timing.heavy} clients continue")
        await _fault(stack.providers[failing], ["status=503"])
        failed_over = await _phase(
            stack,
            tally,
            concurrency=timing.heavy,
            seconds=timing.failover_s,
            max_tokens=timing.max_tokens,
        )
        await _fault(stack.providers[failing], None)
        story.failover_to = Counter(
            {k: v for k, v in failed_over.items() if k not in ("local", failing)}
        )
        story.peak_replicas = max(s.desired for s in timeline.samples)

        timeline.phase = "idle"
        say("phase idle: no load; replicas go back to the minimum after the scale-down window")
        await _until(
            "scale-down to the minimum", lambda: _spec_replicas(stack) == 1, timing.idle_timeout_s
        )
        story.peak_replicas = max(s.desired for s in timeline.samples)
        story.final_replicas = _spec_replicas(stack)
        story.client_errors = Counter(tally.errors)
    finally:
        stop.set()
        await watcher
    return story, timeline
