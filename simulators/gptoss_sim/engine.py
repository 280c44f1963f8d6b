"""The vLLM engine loop: drives the pure capacity model in real (or injected) time.

Requests come in through :meth:`Engine.generate`, which yields the running count of tokens the
request has produced as the steps that produce them end, and fills in the request's
:class:`RequestStats` (prefix-cache hits) once it is scheduled. A request whose consumer goes
away is aborted and its KV blocks freed, as vLLM aborts a request when its client disconnects.

A killed engine fails every request in it with vLLM's ``EngineDeadError`` message (vLLM 0.17.0
``vllm/v1/engine/exceptions.py``); what the server does next is up to ``gptoss_sim.vllm_lifecycle``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.clock import Clock
from gptoss_sim.engine_state import EngineState, Seq, TokenEvent, add_request, kv_usage
from gptoss_sim.prefix_cache import BlockHash
from gptoss_sim.scheduler import abort, step

# Called after each step with its token events and the engine state before and after it.
StepObserver = Callable[[tuple[TokenEvent, ...], EngineState, EngineState], None]

ENGINE_DEAD_MESSAGE = "EngineCore encountered an issue. See stack trace (above) for the root cause."


class EngineDead(Exception):
    """The engine has died; every request in it fails (vLLM's ``EngineDeadError``)."""

    def __init__(self) -> None:
        super().__init__(ENGINE_DEAD_MESSAGE)


@dataclass
class RequestStats:
    """What the engine tells about one request besides its tokens.

    ``cached_tokens`` is vLLM's ``RequestOutput.num_cached_tokens``: prompt tokens found in the
    prefix cache when the request was first scheduled (vLLM ``Scheduler.schedule``), known
    before the request's first token is yielded and unchanged after.
    """

    cached_tokens: int = 0


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

    @property
    def prefix_cache(self) -> tuple[int, int]:
        """Prompt tokens looked up in the prefix cache, and found there, so far."""
        return self._state.prefix_queries, self._state.prefix_hits

    def kill(self) -> None:
        """Kill the engine: in-flight requests fail and new ones are refused."""
        self.dead = True
        for queue in self._queues.values():
            queue.put_nowait(None)

    async def generate(
        self,
        prompt_tokens: int,
        output_tokens: int,
        hashes: tuple[BlockHash, ...] = (),
        stats: RequestStats | None = None,
        lora: str | None = None,
    ) -> AsyncIterator[int]:
        """Yield how many tokens the request has produced, as steps produce them.

        ``hashes`` is the block-hash chain of the prompt's token ids, for prefix caching
        (``gptoss_sim.prefix_cache.block_hashes``); ``stats`` is filled in before the first
        count is yielded; ``lora`` names the LoRA adapter it runs with.
        """
        if self.dead:
            raise EngineDead
        rid = next(self._ids)
        queue: asyncio.Queue[TokenEvent | None] = asyncio.Queue()
        self._queues[rid] = queue
        now = self._clock.now()
        seq = Seq(
            rid, prompt_tokens, max(1, output_tokens), arrived_at=now, hashes=hashes, lora=lora
        )
        self._arrivals.append(seq)
        self._wake.set()
        finished = False
        try:
            while not finished:
                event = await queue.get()
                if event is None:
                    raise EngineDead
                finished = event.finished
                if stats is not None:
                    stats.cached_tokens = event.seq.cached_tokens or 0
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
            state = abort(state, rid, self.params)
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
            before = self._state
            self._state = result.state
            await self._clock.sleep(result.duration)
            self._state = replace(self._state, now=self._clock.now())
            for event in result.events:
                queue = self._queues.get(event.seq.rid)
                if queue is not None:
                    queue.put_nowait(event)
            if self._observe is not None:
                self._observe(result.events, before, self._state)
