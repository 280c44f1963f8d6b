"""vLLM's in-memory store of Responses, as one server process keeps it.

vLLM 0.17.0 ``vllm/entrypoints/openai/responses/serving.py`` (``OpenAIServingResponses``):
responses are kept only when the server runs with ``VLLM_ENABLE_RESPONSES_API_STORE=1``
(``enable_store``), in a dict of that process, never evicted. With the store off, ``store:
true`` (the default) is silently ignored, nothing is kept, so every ``previous_response_id``,
``GET /v1/responses/{id}`` and cancel answers 404; ``background`` needs the store.

A kept response is replaced by its final version when it completes, unless it was cancelled
meanwhile. Background responses are kept at once with status ``queued``; a streamed background
response keeps its events so ``GET ...?stream=true&starting_after=N`` can replay them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from gptoss_sim.vllm_protocol import vllm_error
from gptoss_sim.vllm_responses_checks import cannot_cancel
from gptoss_sim.vllm_responses_prompt import HarmonyPrompt


@dataclass
class _Events:
    items: list[dict[str, Any]] = field(default_factory=list)
    signal: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False


class ResponsesStore:
    """The responses one vLLM server process holds."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._responses: dict[str, dict[str, Any]] = {}
        # What each kept response's request rendered into (vLLM's ``msg_store``), which a
        # follow-up's prompt starts with.
        self._prompts: dict[str, HarmonyPrompt] = {}
        self._events: dict[str, _Events] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._responses)

    def get(self, response_id: str) -> dict[str, Any] | None:
        return self._responses.get(response_id) if self.enabled else None

    def prompt(self, response_id: str) -> HarmonyPrompt | None:
        """The prompt the kept response ``response_id`` was generated from."""
        return self._prompts.get(response_id) if self.enabled else None

    def put(self, response: dict[str, Any], prompt: HarmonyPrompt | None = None) -> None:
        """Keep ``response`` (the final version replaces a queued one unless it was cancelled),
        and ``prompt``, what its request rendered into."""
        if not self.enabled:
            return
        if prompt is not None:
            self._prompts[response["id"]] = prompt
        kept = self._responses.get(response["id"])
        if kept is None or kept.get("status") != "cancelled":
            self._responses[response["id"]] = response

    def fail(self, response_id: str) -> None:
        """A background request failed: its kept response says so (``status = "failed"``)."""
        kept = self._responses.get(response_id)
        if kept is not None and kept.get("status") not in ("completed", "cancelled"):
            kept["status"] = "failed"

    def run(self, response_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run a background request; cancelling the response cancels ``work``."""
        task = asyncio.get_running_loop().create_task(work, name=f"create_{response_id}")
        self._tasks[response_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(response_id, None))

    async def cancel(self, response_id: str) -> dict[str, Any] | None:
        """Mark a queued or running background response cancelled and stop it.

        Returns the response, or None if it is not held; raises the 400 vLLM gives for one
        that has finished (``cancel_responses``).
        """
        kept = self.get(response_id)
        if kept is None:
            return None
        if kept.get("status") not in ("queued", "in_progress"):
            raise cannot_cancel()
        kept["status"] = "cancelled"
        task = self._tasks.get(response_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return kept

    # -- events of streamed background responses ------------------------------------------

    def open_events(self, response_id: str) -> None:
        self._events[response_id] = _Events()

    def add_event(self, response_id: str, event: dict[str, Any]) -> None:
        events = self._events[response_id]
        events.items.append(event)
        events.signal.set()

    def close_events(self, response_id: str) -> None:
        events = self._events.get(response_id)
        if events is not None:
            events.closed = True
            events.signal.set()

    async def replay(
        self, response_id: str, starting_after: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``responses_background_stream_generator``: the events after ``starting_after``,
        then new ones as they come, until ``response.completed``."""
        events = self._events.get(response_id)
        if events is None:
            # Raised while streaming, after the 200 went out: the connection just ends.
            raise vllm_error(f"Unknown response_id: {response_id}", param="response_id",
                             value=response_id)  # fmt: skip
        index = 0 if starting_after is None else starting_after + 1
        while True:
            events.signal.clear()
            while index < len(events.items):
                event = events.items[index]
                yield event
                if event.get("type") == "response.completed":
                    return
                index += 1
            if events.closed:
                return
            await events.signal.wait()

    async def aclose(self) -> None:
        """Stop every background request (the server is shutting down)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
