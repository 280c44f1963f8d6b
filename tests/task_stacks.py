"""Where a loop's pending tasks wait, for the message of a test that failed (tests only).

A request that never comes back is somewhere: in the router's request path, in a simulator's
HTTP server or in its engine. Listing each pending task's frames inside the packages a test
names says which, without a debugger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import types

__all__ = ["pending_stacks"]

_LOOK_S = 5.0  # a loop that does not answer in this long is itself the finding
_DEPTH = 60  # frames followed down one task's awaits


def _chain(task: asyncio.Task[object]) -> list[types.FrameType]:
    """Every frame a task waits in, outermost first. ``Task.get_stack`` gives only the task's
    own coroutine's frame (a request task's is its server's), not what that one awaits."""
    frames: list[types.FrameType] = []
    awaited: object = task.get_coro()
    while awaited is not None and len(frames) < _DEPTH:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        frame = frame or getattr(awaited, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
            or getattr(awaited, "ag_await", None)
        )
    return frames


def _frames(loop: asyncio.AbstractEventLoop, packages: tuple[str, ...]) -> list[str]:
    lines = []
    for task in asyncio.all_tasks(loop):
        if task.done():
            continue
        frames = [
            f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
            for frame in _chain(task)
            if any(package in frame.f_code.co_filename for package in packages)
        ]
        if frames:
            lines.append(f"{task.get_name()}: " + " > ".join(frames))
    return sorted(lines)


async def pending_stacks(loop: asyncio.AbstractEventLoop | None, packages: tuple[str, ...]) -> str:
    """The pending tasks of ``loop`` (this one, or one running in another thread) with their
    frames inside ``packages``, one line each."""
    if loop is None:
        return "(no loop)"
    if loop is asyncio.get_running_loop():
        return "\n".join(_frames(loop, packages))

    async def collect() -> list[str]:
        return _frames(loop, packages)

    future = asyncio.run_coroutine_threadsafe(collect(), loop)
    try:
        found = await asyncio.wait_for(asyncio.wrap_future(future), _LOOK_S)
    except (TimeoutError, concurrent.futures.CancelledError, RuntimeError) as exc:
        return f"(could not look: {exc!r})"
    return "\n".join(found)
