"""Changing a stored document by compare-and-set: read it with its version, compute the change,
write it only if nobody wrote in between, and when another writer got there first, do it all
again on a fresh read, a bounded number of times (then the caller's 409).

Writers that lost a round wait a random moment before the next (up to 1, 2, 4… ms, at most
``MAX_PAUSE_S``): without it, writers that collided once read and write in step and collide
again, so that a few busy writers could lose every round."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gptoss_router.state.store import Versioned

__all__ = ["ATTEMPTS", "change_document", "pause"]

D = TypeVar("D")
R = TypeVar("R")
ATTEMPTS = 16  # compare-and-set rounds before giving up
MAX_PAUSE_S = 0.05  # the longest wait between two rounds


async def change_document(
    read: Callable[[], Awaitable[Versioned[D] | None]],
    write: Callable[[D, int], Awaitable[bool]],
    change: Callable[[D], tuple[D, R] | None],
    *,
    busy: Callable[[], Exception],
    attempts: int = ATTEMPTS,
    known: Versioned[D] | None = None,
) -> tuple[D, R] | None:
    """``change`` the document ``read`` returns and ``write`` the result at the version read
    (``write`` says whether it landed). The document written and what ``change`` returned, or
    None when there is no document or ``change`` keeps nothing; ``busy()`` is raised after
    ``attempts`` lost rounds. ``known``: the document as the caller read it a while ago, tried
    first without a read (a round trip saved when nobody wrote it since)."""
    for attempt in range(attempts):
        if attempt:
            await pause(attempt)
        found = known if attempt == 0 and known is not None else await read()
        if found is None:
            return None
        changed = change(found.value)
        if changed is None:
            return None
        if await write(changed[0], found.version):
            return changed
    raise busy()


async def pause(attempt: int) -> None:
    """The random wait before round ``attempt`` (from 1): up to 1, 2, 4… ms, at most
    ``MAX_PAUSE_S``."""
    ceiling = min(MAX_PAUSE_S, 0.001 * 2 ** (attempt - 1))
    await asyncio.sleep(random.uniform(0.0, ceiling))  # noqa: S311 - jitter, not secrets
