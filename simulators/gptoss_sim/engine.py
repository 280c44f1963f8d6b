"""The vLLM engine loop: drives the pure capacity model in real (or injected) time.

Requests come in through :meth:`Engine.generate`, which yields the running count of tokens the
request has produced as the steps that produce them end. A request whose consumer goes away is
aborted and its KV blocks freed, as vLLM aborts a request when its client disconnects.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from gptoss_sim.capacity import (
    CapacityParams,
    EngineState,
    Seq,
    TokenEvent,
    abort,
    add_request,
    kv_usage,
    step,
)
from gptoss_sim.clock import Clock

StepObserver = Callable[[tuple[TokenEvent, ...], EngineState, int], None]


class EngineDead(Exception):
    """The engine has died; every request in it fails (vLLM's ``EngineDeadError``)."""


class Engine:
    """One simulated engine. Create it inside the event loop that will run it."""

    def __init__(
        self, params: CapacityParams, clock: Clock, observe: StepObserver | None = None
    ) -> None:
        self.params = params
        self._clock = clock
        self._observe = observe
        self._state = EngineState(now=clock.now())
        self._arrivals: list[Seq] = []
        self._aborted: set[int] = set()
        self._queues: dict[int, asyncio.Queue[TokenEvent | None]] = {}
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dead = False

    @property
    def num_running(self) -> int:
        return len(self._state.running)

    @property
    def num_waiting(self) -> int:
        return len(self._state.waiting) + len(self._arrivals)

    @property
    def kv_usage(self) -> float:
        return kv_usage(self._state, self.params)

    @property
    def preemptions(self) -> int:
        return self._state.preemptions

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def kill(self) -> None:
        """Kill the engine: in-flight requests fail and new ones are refused."""
        self.dead = True
        for queue in self._queues.values():
            queue.put_nowait(None)

    async def generate(self, prompt_tokens: int, output_tokens: int) -> AsyncIterator[int]:
        """Yield how many tokens the request has produced, as steps produce them."""
        if self.dead:
            raise EngineDead("engine is dead")
        rid = next(self._ids)
        queue: asyncio.Queue[TokenEvent | None] = asyncio.Queue()
        self._queues[rid] = queue
        seq = Seq(rid, prompt_tokens, max(1, output_tokens), arrived_at=self._clock.now())
        self._arrivals.append(seq)
        self._wake.set()
        finished = False
        try:
            while not finished:
                event = await queue.get()
                if event is None:
                    raise EngineDead("engine died while serving the request")
                finished = event.finished
                yield event.seq.generated
        finally:
            del self._queues[rid]
            if not finished:
                self._aborted.add(rid)
                self._wake.set()

    def _absorb(self) -> None:
        state = self._state
        for seq in self._arrivals:
            state = add_request(state, seq)
        self._arrivals.clear()
        for rid in self._aborted:
            state = abort(state, rid)
        self._aborted.clear()
        self._state = state

    async def _run(self) -> None:
        while True:
            self._absorb()
            result = None if self.dead else step(self._state, self.params)
            if result is None:
                self._wake.clear()
                await self._wake.wait()
                self._state = replace(self._state, now=self._clock.now())
                continue
            # The gauges show the batch as scheduled for this step while it runs, as vLLM's
            # scheduler stats do; the tokens arrive when the step ends.
            preempted = result.state.preemptions - self._state.preemptions
            self._state = result.state
            await self._clock.sleep(result.duration)
            self._state = replace(self._state, now=self._clock.now())
            for event in result.events:
                queue = self._queues.get(event.seq.rid)
                if queue is not None:
                    queue.put_nowait(event)
            if self._observe is not None:
                self._observe(result.events, self._state, preempted)
