"""Wait for a condition with a deadline instead of sleeping (tests only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, timeout: float = 60.0, what: str = "") -> T:
    """Return the first truthy value of ``probe()``, polling until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what or 'condition'} did not hold within {timeout}s (last: {last!r})")
