"""The policies the simulator compares. The queue-depth and cost policies are the operator's
own deciding code (``gptoss_operator.autoscaling.decide``; for the cost policy the
``DemandMeter`` and ``CostState.decide`` the autoscaler's loop calls each tick), fed with what
the autoscaler would read from vLLM and the router at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.cost_state import CostState
from gptoss_operator.autoscaling.decide import Policy as QueuePolicy
from gptoss_operator.autoscaling.decide import Signals, Stabilizer, recommend
from gptoss_operator.autoscaling.economics import CostPolicy
from gptoss_operator.autoscaling.learned import Subject, learned_status, restored_state
from gptoss_operator.autoscaling.policies import cost_policy as operator_cost_policy
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue, RouterSpill

from .world import World

__all__ = ["Always", "Cost", "Observation", "Policy", "QueueDepth", "Restarted", "cost_policy"]

_EPOCH = 1_796_112_000.0  # 2026-12-01T00:00:00Z: the trace's wall clock, for learned_status


@dataclass(frozen=True)
class Observation:
    """What the autoscaler reads at one tick."""

    now: float
    desired: int  # spec.replicas
    ready: int
    waiting: int
    running: int
    spilled_inflight: int
    generation_tokens: float  # counters, since the start
    prompt_tokens: float
    finished: float
    spilled_total: int
    hosted_input_tokens: float
    hosted_output_tokens: float
    unserved_total: float = 0.0  # requests no backend took (the router's backend="none")
    newest_age_s: float | None = None  # of the newest replica asked for, ready or not


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def spill(self) -> bool: ...

    def start(self) -> int: ...

    def decide(self, seen: Observation) -> int: ...


@dataclass
class Always:
    """A fixed count of replicas; ``replicas=0`` with ``spill`` is all hosted."""

    replicas: int
    spill: bool = False

    @property
    def name(self) -> str:
        if self.replicas == 0:
            return "always hosted"
        return f"always {self.replicas} local" + (" + spill" if self.spill else "")

    def start(self) -> int:
        return self.replicas

    def decide(self, seen: Observation) -> int:
        return self.replicas


@dataclass
class QueueDepth:
    policy: QueuePolicy
    spill: bool
    window: Stabilizer = field(default_factory=Stabilizer)

    @property
    def name(self) -> str:
        return "queue depth" + (" + spill" if self.spill else ", no spill")

    def start(self) -> int:
        self.window = Stabilizer([(0.0, self.policy.min_replicas)])
        return self.policy.min_replicas

    def decide(self, seen: Observation) -> int:
        signals = Signals(
            ready=seen.ready,
            waiting=seen.waiting,
            running=seen.running,
            spilled=seen.spilled_inflight if self.spill else 0,
        )
        wish = recommend(signals, self.policy)
        return self.window.decide(seen.now, wish.replicas, current=seen.desired, policy=self.policy)


@dataclass
class Cost:
    policy: CostPolicy
    meter: DemandMeter = field(default_factory=DemandMeter)
    state: CostState = field(default_factory=CostState)
    tick_s: float = 10.0
    decisions: list[tuple[float, float, float]] = field(default_factory=list)
    _pods: dict[str, PodQueue] = field(default_factory=dict)  # each ready replica's counters
    _served: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the pool's, at the last tick

    @property
    def name(self) -> str:
        if self.policy.burst_standby_s <= 0:
            return "cost"
        return f"cost, burstStandby {self.policy.burst_standby_s / 3600:g}h"

    @property
    def spill(self) -> bool:
        return self.policy.may_spill

    def start(self) -> int:
        self.meter, self.state = DemandMeter(), CostState()
        self._pods, self._served = {}, (0.0, 0.0, 0.0)
        return self.policy.min_replicas

    def _replicas(self, seen: Observation) -> dict[str, PodQueue]:
        """Each ready replica's metrics, as the autoscaler reads them pod by pod: the pool's
        tokens of the tick shared evenly, each replica counting from its own zero (the newest
        ones go first, as a ReplicaSet removes them)."""
        served = (seen.generation_tokens, seen.prompt_tokens, seen.finished)
        share = [
            (now - before) / max(seen.ready, 1)
            for now, before in zip(served, self._served, strict=True)
        ]
        self._served = served
        pods: dict[str, PodQueue] = {}
        for i in range(seen.ready):
            key = f"replica-{i}"
            was = self._pods.get(key, PodQueue(0, 0))
            pods[key] = PodQueue(
                seen.waiting if i == 0 else 0,
                seen.running if i == 0 else 0,
                was.generation_tokens + share[0],
                was.prompt_tokens + share[1],
                was.finished + share[2],
            )
        self._pods = pods
        return pods

    def decide(self, seen: Observation) -> int:
        router = RouterSpill(
            seen.spilled_inflight,
            seen.spilled_total,
            hosted_requests=seen.spilled_total,
            hosted_input_tokens=seen.hosted_input_tokens,
            hosted_output_tokens=seen.hosted_output_tokens,
            unserved=seen.unserved_total,
        )
        self.meter.observe(seen.now, self._replicas(seen), router)
        tick = self.state.decide(
            seen.now,
            self.meter,
            self.policy,
            current=seen.desired,
            ready=seen.ready,
            saturated=seen.waiting > 0 or seen.spilled_inflight > 0,
            blind=False,  # the simulator always reads every metric
            tick_s=self.tick_s,
            newest_age_s=seen.newest_age_s,
        )
        wish = tick.decision
        self.decisions.append((seen.now, wish.local_dollars_per_hour, wish.hosted_dollars_per_hour))
        return wish.replicas


@dataclass
class Restarted(Cost):
    """The cost policy of an operator restarted every ``every_s`` (a rollout, a drain, a new
    leader): each restart starts a new demand meter and cost state, as a new process does, and
    with ``remembers`` reads back what the last one kept in status (``learned``)."""

    every_s: float = 7200.0
    remembers: bool = True
    subject: Subject = field(default_factory=lambda: Subject("model", ""))

    @property
    def name(self) -> str:
        kept = "remembers" if self.remembers else "forgets"
        return f"{super().name}, restarted {self.every_s / 3600:g}h, {kept}"

    def decide(self, seen: Observation) -> int:
        if seen.now > 0 and seen.now % self.every_s < self.tick_s:
            now, wall = seen.now, _EPOCH + seen.now
            kept = learned_status(self.state, self.subject, now=now, wall=wall)
            self.meter = DemandMeter()
            self.state = CostState()
            if self.remembers:
                self.state, _ = restored_state(kept, self.subject, now=now, wall=wall)
        return super().decide(seen)


def cost_policy(world: World, max_replicas: int, burst_standby: str | None = None) -> CostPolicy:
    """The operator's own cost policy for a GptOssDeployment of the world's model and GPU, at
    its defaults (``minReplicas: 0``, spill to every provider; and ``burstStandby`` if given),
    with ``coldStart`` the world's median cold start as its owner would measure it (the CRD's
    default, 3m, in the default world), priced as the operator would be: the GPU price from
    its settings, the providers from the router's table."""
    autoscaling = {
        "minReplicas": 0,
        "maxReplicas": max_replicas,
        "policy": "Cost",
        "coldStart": f"{world.cold_start.median_s:g}s",
    }
    if burst_standby is not None:
        autoscaling["burstStandby"] = burst_standby
    spec = GptOssDeploymentSpec.model_validate(
        {
            "model": world.model,
            "gpu": {"product": world.product},
            "autoscaling": autoscaling,
            "spillover": {"providers": [p.name for p in world.providers]},
        }
    )
    policy = operator_cost_policy(
        spec,
        gpu_prices={world.product: world.gpu_hourly},
        provider_prices=world.provider_table(),
        billing_s=world.billing_s,
    )
    assert policy is not None
    return policy
