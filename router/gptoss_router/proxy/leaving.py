"""Whether the caller is still there: the ASGI ``receive`` that ends when it leaves.

Once a request's body is read, the next message the server has for it is ``http.disconnect``.
The request path races each upstream attempt against that message, so a caller that leaves
before the answer starts cancels the upstream request (vLLM aborts a request whose connection
closes) instead of letting it run to its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.types import Message, Receive

__all__ = ["disconnected", "never_leaves", "unless_left"]

T = TypeVar("T")


async def never_leaves() -> Message:
    """The ``receive`` of a background request: nobody waits on the other end to leave."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def disconnected(receive: Receive) -> None:
    """Return when the caller of a request whose body has been read goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_left(
    left: asyncio.Future[None],
    work: Coroutine[Any, Any, T],
    abandon: Callable[[T], object] = lambda _: None,
) -> T | None:
    """``work``'s result, or None (``work`` cancelled) if the caller leaves first. ``work`` is
    cancelled too when the task awaiting it is (a background response cancelled through the
    API, a replica stopping), and has ended when that cancellation goes on; a result it had
    already reached then goes to ``abandon`` (to close what it holds open)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait((task, left), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await _cancelled(task, abandon)
        raise
    if task.done():
        return task.result()
    await _cancelled(task, abandon)
    return None


async def _cancelled(task: asyncio.Future[T], abandon: Callable[[T], object]) -> None:
    """Cancel ``task`` and wait until it has ended; a result it reached first is abandoned."""
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled() and task.exception() is None:
        abandon(task.result())
