"""A router that stops ends its background tasks (sync with the store, scraping, probing,
discovery, warming) even when a library swallowed a cancel: it cancels again those still
running, and after a few rounds logs the ones it gives up on rather than hang its shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gptoss_router.http.app import stop_tasks


async def _swallowing(cancels: list[int], ended: list[str]) -> None:
    """A loop that goes on after a cancel while ``cancels[0]`` is above 0 (one fewer each
    time), as one whose cancel a library swallowed does."""
    while True:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if cancels[0] == 0:
                ended.append("ended")
                raise
            cancels[0] -= 1
            asyncio.current_task().uncancel()  # type: ignore[union-attr]


async def test_a_task_that_swallowed_a_cancel_is_cancelled_again_until_it_ends() -> None:
    ended: list[str] = []
    tasks = [
        asyncio.create_task(_swallowing([0], ended), name="plain"),
        asyncio.create_task(_swallowing([2], ended), name="swallowing"),
    ]
    await asyncio.sleep(0)  # both wait
    await stop_tasks(tasks)
    assert ended == ["ended", "ended"]
    assert all(task.cancelled() for task in tasks)


async def test_a_task_that_never_ends_is_named_in_the_log_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []
    cancels = [1_000]
    stuck = asyncio.create_task(_swallowing(cancels, ended), name="gptoss-stuck")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await stop_tasks([stuck], rounds=2)
    assert not stuck.done() and ended == []
    assert "gptoss-stuck did not end" in caplog.text
    cancels[0] = 0  # the test's own cleanup: the next cancel ends it
    stuck.cancel()
    await asyncio.wait([stuck])
    assert ended == ["ended"]
