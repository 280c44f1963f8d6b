"""Holding the operator's Lease (the I/O half of ``lease``), and running the operator only
while this replica leads.

A standby starts nothing of Kopf: no watch streams, no handlers, no resync, no autoscaler; it
reads the Lease every retry period (one GET, no write) and serves its liveness endpoint. Once it
takes the Lease it starts the operator, which lists and watches everything afresh and resumes
every GptOssDeployment (a settled one costs no write). The leader renews every retry period;
if it cannot for the renew deadline, it has lost the Lease and the process exits at once (a
half-stopped operator must not write beside the new leader; its pod restarts as a standby).
A leader asked to stop (SIGTERM) stops Kopf, waits for its threads, and then releases the
Lease, so a standby takes over within a retry period instead of a lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gptoss_operator.errors import KubeConflict, KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.leading.lease import (
    JITTER,
    LEASE_API_VERSION,
    Observer,
    Timing,
    claim,
    lease_object,
    micro_time,
    record_of,
    released,
)
from gptoss_operator.leading.standby import serving_liveness

__all__ = ["Elector", "run_elected"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


def _wall() -> str:
    return micro_time(dt.datetime.now(dt.UTC))


@dataclass
class Elector:
    kube: Kube
    namespace: str
    name: str
    identity: str
    timing: Timing
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], str] = _wall
    _observer: Observer = field(default_factory=Observer)
    _live: dict[str, Any] | None = None  # the Lease as this replica last wrote it
    _failure: str = ""

    @property
    def _timeout(self) -> float:
        """How long one call to the API may take: a hung request must not keep a standby from
        trying again, nor leave a leader's thread writing long after it gave up."""
        return self.timing.renew_deadline_s / 2

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def holder(self) -> str:
        """Who holds the Lease, as last seen ("" if nobody)."""
        record = self._observer.record
        return record.holder if record is not None else ""

    def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease (blocking: run it in a thread)."""
        now = self.clock()
        try:
            live = self._read_or_create(now)
            if live is None:
                return True  # created, holding it
            record = record_of(live)
            self._observer.observe(record, now)
            if self._observer.held_by_another(self.identity, now):
                return False
            mine = claim(record, self.identity, self.timing.lease_s, self.wall())
            version = live["metadata"].get("resourceVersion")
            wanted = lease_object(self.namespace, self.name, mine, version)
            self._live = self.kube.replace(wanted, timeout=self._timeout)
            self._observer.observe(mine, now)
        except KubeConflict:
            self._live = None  # someone else wrote it: read it afresh next time
            return False
        except KubeError as exc:
            self._failure = str(exc)
            return False
        self._failure = ""
        return True

    def _read_or_create(self, now: float) -> dict[str, Any] | None:
        """The Lease as it is (the leader trusts its own last write), or None once created."""
        if self._live is not None and record_of(self._live).holder == self.identity:
            return self._live
        live = self.kube.get(
            LEASE_API_VERSION, "Lease", self.namespace, self.name, timeout=self._timeout
        )
        if live is not None:
            return live
        mine = claim(None, self.identity, self.timing.lease_s, self.wall())
        self._live = self.kube.create(
            lease_object(self.namespace, self.name, mine), timeout=self._timeout
        )
        self._observer.observe(mine, now)
        return None

    def release(self) -> None:
        """Give the Lease up if this replica holds it (best effort: it expires anyway)."""
        if self._live is None or record_of(self._live).holder != self.identity:
            return
        gone = released(record_of(self._live), self.wall())
        version = self._live["metadata"].get("resourceVersion")
        try:
            self.kube.replace(
                lease_object(self.namespace, self.name, gone, version), timeout=self._timeout
            )
        except KubeError:
            return
        self._live = None

    def _pause(self) -> float:
        return self.timing.retry_s * random.uniform(1.0, JITTER)  # noqa: S311 (not secret)

    async def acquire(self, logger: Logger) -> None:
        """Return once this replica holds the Lease; until then, stand by."""
        reported = None
        while not await asyncio.to_thread(self.try_acquire_or_renew):
            now = (self.holder, self._failure)
            if now != reported:
                if self._failure:
                    logger.warning("standing by: cannot take lease %s: %s", self.where, now[1])
                else:
                    logger.info("standing by: lease %s is held by %s", self.where, now[0])
                reported = now
            await asyncio.sleep(self._pause())
        logger.info("leading: %s holds lease %s", self.identity, self.where)

    async def hold(self, logger: Logger) -> None:
        """Renew every retry period; return once renewing failed for the renew deadline or
        another replica holds the Lease."""
        renewed = self.clock()
        while True:
            await asyncio.sleep(self.timing.retry_s)
            left = renewed + self.timing.renew_deadline_s - self.clock()
            ok = False
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        ok = await asyncio.to_thread(self.try_acquire_or_renew)
            if ok:
                renewed = self.clock()
                continue
            if self.holder not in ("", self.identity):
                logger.error("lost lease %s to %s", self.where, self.holder)
                return
            if self.clock() - renewed >= self.timing.renew_deadline_s:
                logger.error(
                    "could not renew lease %s for %.0f s: %s",
                    self.where,
                    self.timing.renew_deadline_s,
                    self._failure or "no answer",
                )
                return


async def run_elected(
    elector: Elector,
    operate: Callable[[], Awaitable[None]],
    *,
    liveness: str | None,
    on_lost: Callable[[], NoReturn],
    logger: Logger,
) -> None:
    """Stand by until ``elector`` holds the Lease, then ``operate`` while it does. Losing the
    Lease calls ``on_lost`` (which must end the process); ``operate`` returning (Kopf stopped
    on a signal) ends the holding. The caller releases the Lease once the loop is closed."""
    async with serving_liveness(liveness, lambda: elector.holder):
        await elector.acquire(logger)
    operating = asyncio.ensure_future(operate())
    holding = asyncio.ensure_future(elector.hold(logger))
    await asyncio.wait({operating, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding.done():
        on_lost()
    holding.cancel()
    await operating
