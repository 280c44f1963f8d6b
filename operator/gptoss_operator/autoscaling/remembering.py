"""Where the cost policy's learning outlives the operator (the write seam of ``learned``): each
deployment's state is read back from ``status.autoscaling.learned`` the first time this process
decides for it, and written there again whenever what it has learned changes. A new fact (a
first measurement, a new burst, demand back after a move down, a move down) is written at once,
so an operator stopped right after it does not lose it; a figure that only moves (a saturated
replica's capacity nudged every tick, a burst growing) at most once a ``MIN_INTERVAL_S``, so it
costs the API server one status patch a minute, not one a tick."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from gptoss_operator import names
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.learned import Subject, learned_status, restored_state
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube

__all__ = ["MIN_INTERVAL_S", "Remembering"]

MIN_INTERVAL_S = 60.0
_LEARNED = (
    "replicaTokensPerSecond",
    "providersTokensPerSecond",
    "bursts",
    "demandReturnedAfterSeconds",
    "releasedAt",
)

Logger = logging.Logger | logging.LoggerAdapter[Any]


def _without_times(doc: dict[str, Any]) -> dict[str, Any]:
    """What a learned document says, less the moment of its writing (which always changes)."""
    return {k: v for k, v in doc.items() if k != "writtenAt"}


def _facts(said: dict[str, Any]) -> tuple[object, ...]:
    """What a learned document knows, as against how far its figures have moved."""
    bursts = said.get("bursts") or []
    return (
        said.get("replicaOf"),
        said.get("providersOf"),
        said.get("replicaTokensPerSecond") is not None,
        said.get("providersTokensPerSecond") is not None,
        tuple(b.get("start") for b in bursts if isinstance(b, dict)),
        tuple(said.get("demandReturnedAfterSeconds") or ()),
        said.get("releasedAt"),
    )


@dataclass
class Remembering:
    kube: Kube
    min_interval_s: float = MIN_INTERVAL_S
    _written: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)  # by uid

    def forget_all_but(self, uids: set[str]) -> None:
        for uid in [u for u in self._written if u not in uids]:
            del self._written[uid]

    def recall(
        self, cr: dict[str, Any], subject: Subject, *, now: float, wall: float, logger: Logger
    ) -> CostState:
        """The state the last operator kept in ``cr``'s status (a fresh one if none)."""
        doc = ((cr.get("status") or {}).get("autoscaling") or {}).get("learned")
        state, problems = restored_state(doc, subject, now=now, wall=wall)
        meta = cr["metadata"]
        for problem in problems:
            logger.warning(
                "%s/%s: status.autoscaling.learned not read back: %s",
                meta["namespace"],
                meta["name"],
                problem,
            )
        if problems:  # the next tick writes what was kept, without what was dropped
            self._written[meta["uid"]] = ({}, -math.inf)
        elif isinstance(doc, dict):  # as read: no need to write it again
            self._written[meta["uid"]] = (_without_times(doc), now)
        return state

    async def keep(
        self, cr: dict[str, Any], state: CostState, subject: Subject, *, now: float, wall: float
    ) -> None:
        """Write what ``state`` has learned to ``cr``'s status: a new fact at once, a figure
        that moved once the last write is ``min_interval_s`` old; a failed write is tried
        again at the next tick."""
        meta = cr["metadata"]
        doc = learned_status(state, subject, now=now, wall=wall)
        said = _without_times({k: v for k, v in doc.items() if v is not None})
        last = self._written.get(meta["uid"])
        if last is None and not any(said.get(k) for k in _LEARNED):
            return  # nothing learned, and nothing kept before: nothing to say
        if last is not None:
            moved_only = _facts(last[0]) == _facts(said)
            if last[0] == said or (moved_only and now - last[1] < self.min_interval_s):
                return
        patch = {"autoscaling": {"learned": doc}}
        try:
            await asyncio.to_thread(
                self.kube.patch_status,
                names.API_VERSION,
                names.KIND,
                meta["namespace"],
                meta["name"],
                patch,
            )
        except KubeError:
            return
        self._written[meta["uid"]] = (said, now)
