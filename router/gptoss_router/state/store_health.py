"""Whether the shared store answers, as the request path and the sync loop both see it.

After a failure the store is left alone for ``pause_s`` (requests do not each wait for a
timeout while it is down); the next call after that tries it again, and one success brings it
back. The transitions are logged once and exported as ``gptoss_router_store_up``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gptoss_router.metrics import RouterMetrics
from gptoss_router.state.store import StoreFailed

__all__ = ["StoreHealth"]

T = TypeVar("T")

log = logging.getLogger(__name__)


class StoreHealth:
    """Up or down, with the last failure's reason (safe to show: no password in it)."""

    def __init__(
        self,
        metrics: RouterMetrics,
        *,
        clock: Callable[[], float],
        pause_s: float = 1.0,
        shared: bool = True,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._pause = pause_s
        self.shared = shared  # False: the in-process store of a single replica
        self._up = True
        self._retry_at = 0.0
        self.reason = ""
        metrics.store_up.set(1)

    @property
    def up(self) -> bool:
        """Whether the last call to the store succeeded."""
        return self._up

    def usable(self) -> bool:
        """Whether to call the store now (up, or down long enough to try again)."""
        return self._up or self._clock() >= self._retry_at

    def succeeded(self) -> None:
        """A call to the store answered."""
        if not self._up:
            log.warning("the state store answers again; limits and shared state resume")
            self._up = True
            self.reason = ""
            self._metrics.store_up.set(1)

    def failed(self, operation: str, reason: str) -> None:
        """A call to the store (``take``, ``charge`` or ``sync``) failed with ``reason``."""
        self._metrics.store_errors.labels(operation).inc()
        self._retry_at = self._clock() + self._pause
        if self._up:
            log.warning(
                "the state store is unreachable (%s): limits fall back to their on_store_loss "
                "setting, replicas stop sharing load and health until it answers",
                reason,
            )
            self._up = False
            self._metrics.store_up.set(0)
        self.reason = reason

    async def call(
        self, operation: str, pending: Awaitable[T], unavailable: Callable[[], Exception]
    ) -> T:
        """Await a store call, recording how it went; a failure raises ``unavailable()``."""
        try:
            result = await pending
        except StoreFailed as err:
            self.failed(operation, str(err))
            raise unavailable() from None
        self.succeeded()
        return result
