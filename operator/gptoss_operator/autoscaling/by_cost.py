"""One tick of the autoscaler for a GptOssDeployment with ``policy: Cost``: its cost state
recalled (from memory, or from ``status.autoscaling.learned`` the first time), the decision
(``cost_state.CostState.decide``), the figures exported and kept in status, and the new replicas
written through ``/scale``.

The autoscaler's loop (``loop``) reads the signals and the demand meter and calls ``decide``;
what the policy has learned stays here, by the CR's uid, until the CR is gone.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.decide import Signals, never_down_blind
from gptoss_operator.autoscaling.economics import CostPolicy
from gptoss_operator.autoscaling.learned import Subject, learned_status, restored_state
from gptoss_operator.autoscaling.prices import missing_gpu_price
from gptoss_operator.autoscaling.remembering import Remembering
from gptoss_operator.autoscaling.signals import DemandMeter
from gptoss_operator.autoscaling.telling import Telling
from gptoss_operator.autoscaling.writes import Decision, economics_status, write_decision
from gptoss_operator.kube.client import Kube
from gptoss_operator.metrics import CostFigures, OperatorMetrics
from gptoss_operator.settings import OperatorSettings

__all__ = ["CostScaling", "unpriced_reason"]

Logger = logging.Logger | logging.LoggerAdapter[Any]


def unpriced_reason(spec: GptOssDeploymentSpec, settings: OperatorSettings) -> str | None:
    """Why a Cost-policy ``spec`` has no GPU price; None for a Queue policy or a price."""
    auto = spec.autoscaling
    if auto is None or auto.policy != "Cost":
        return None
    return missing_gpu_price(
        spec.gpu.product,
        from_cr=auto.gpu_hourly_price,
        from_operator=settings.gpu_hourly_prices,
    )


@dataclass
class CostScaling:
    kube: Kube
    settings: OperatorSettings
    telling: Telling
    remembering: Remembering
    metrics: OperatorMetrics
    _costs: dict[str, CostState] = field(default_factory=dict)  # by uid
    _subjects: dict[str, Subject] = field(default_factory=dict)  # what each learned of, by uid

    def forget_all_but(self, keys: set[str]) -> None:
        """Drop what was learned of CRs whose uid is not in ``keys``."""
        self.remembering.forget_all_but(keys)
        for state in (self._costs, self._subjects):
            for key in [k for k in state if k not in keys]:
                del state[key]

    def state_for(
        self, cr: dict[str, Any], subject: Subject, now: float, wall: float, logger: Logger
    ) -> CostState:
        """This deployment's cost state: as the last operator left it in status the first
        time, and without what was learned of other replicas or providers once the spec
        changes either."""
        uid = cr["metadata"]["uid"]
        state, was = self._costs.get(uid), self._subjects.get(uid)
        if state is None:
            state = self.remembering.recall(cr, subject, now=now, wall=wall, logger=logger)
        elif was is not None and was != subject:
            kept = learned_status(state, was, now=now, wall=wall)
            state, dropped = restored_state(kept, subject, now=now, wall=wall)
            for what in dropped:
                meta = cr["metadata"]
                logger.info("%s/%s: %s; dropped", meta["namespace"], meta["name"], what)
        self._costs[uid], self._subjects[uid] = state, subject
        return state

    async def decide(
        self,
        cr: dict[str, Any],
        spec: GptOssDeploymentSpec,
        signals: Signals,
        policy: CostPolicy,
        meter: DemandMeter,
        newest_age_s: float | None,
        *,
        now: float,
        wall: float,
        logger: Logger,
    ) -> Decision | None:
        """The tick's decision, written if it changes the replicas; None if it does not."""
        meta = cr["metadata"]
        current = spec.replicas
        subject = Subject.of(spec.model, policy)
        state = self.state_for(cr, subject, now, wall, logger)
        # The hysteresis as it was: a move whose write fails did not happen, so its evidence and
        # the release it would mark (kept in status, read back after a restart) stand as they were.
        before = copy.deepcopy(state.governor)
        tick = state.decide(
            now,
            meter,
            policy,
            current=current,
            ready=signals.ready,
            saturated=signals.waiting > 0 or signals.spilled > 0,
            blind=signals.blind,  # a silent replica looks idle, a silent router hosts nothing
            tick_s=self.settings.autoscale_interval_seconds,
            newest_age_s=newest_age_s,
        )
        wish = tick.decision
        replicas = never_down_blind(
            wish.replicas, current=current, blind=signals.blind, ceiling=policy.max_replicas
        )
        economics = economics_status(wish, tick.demand, tick.capacity)
        self.metrics.cost(
            meta["namespace"],
            meta["name"],
            CostFigures(
                reason=wish.reason,
                demand_tokens_per_s=tick.demand.tokens_per_s,
                replica_tokens_per_s=tick.capacity,
                break_even_tokens_per_s=wish.break_even_tokens_per_s,
                chosen_dollars_per_hour=wish.local_dollars_per_hour,
                hosted_dollars_per_hour=wish.hosted_dollars_per_hour,
                providers_tokens_per_s=state.bursts.providers,
            ),
        )
        if replicas == current:
            await self.remembering.keep(cr, state, subject, now=now, wall=wall)
            await self.telling.cost_reason(cr, wish, economics)
            return None
        decision = Decision(
            meta["namespace"],
            meta["name"],
            current,
            replicas,
            wish.reason,
            wish.message,
            economics,
        )
        try:
            await asyncio.to_thread(write_decision, self.kube, cr, decision)
        except BaseException:
            state.governor = before  # the next tick tries the move again on the same evidence
            raise
        self.telling.scaled(meta["uid"])
        await self.remembering.keep(cr, state, subject, now=now, wall=wall)
        return decision
