"""How many replicas a GptOssDeployment should run, from its queues (pure: no clock, no I/O).

Signal: the queue is the requests waiting in the ready replicas' vLLM engines
(``vllm:num_requests_waiting``) plus the requests for this model the router is serving from
hosted providers right now (its spilled demand): both are demand the replicas did not absorb.
``targetQueueDepth`` is the queue each ready replica may carry.

* Queue above target: one more replica per ``targetQueueDepth`` queued requests, on top of the
  ready ones, at once (no scale-up window: GPUs are slow to start, so react early).
* From zero: any spilled request asks for one replica at once.
* Busy, no queue: hold, or give back one replica when the others could carry the running
  requests at half their batch capacity.
* Idle (nothing running, waiting or spilled): ``minReplicas``, which may be 0.
* Scale-down is stabilized: the decision is the highest recommendation seen during the last
  ``scaleDownDelay`` (the way the HPA's scale-down stabilization window works), so replicas
  go only after demand stayed low for that long, and a dip does not make them flap.
* Blind, never down: when a ready replica's metrics (or a router's) could not be read, the
  observation misses demand it cannot see, so it may add replicas but never remove any; the
  held count also enters the window, so after the metrics return replicas go only once demand
  stayed low for a whole window of complete readings. (The HPA is as careful: on scale-down it
  takes a pod without metrics to use 100 % of its target; docs/autoscaling.md, Missing metrics.)
* Loading, never down: while a replica asked for is still loading its weights, the demand that
  called it is not seen either: the router gives up on the requests it held for it after two
  minutes, and the queue reads empty while the replica still loads. So the replicas are held as
  while blind (``still_loading``), and the ``scaleDownDelay`` countdown starts once the replica
  is Ready (or once it has had its whole startup timeout), not when the held requests timed out.
  Without this, a model whose cold start is longer than ``scaleDownDelay`` plus the router's
  hold was given back before it was ever Ready, at every request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = [
    "Loading",
    "Policy",
    "Recommendation",
    "Signals",
    "Stabilizer",
    "never_down_blind",
    "parse_duration",
    "recommend",
    "still_loading",
]

_DURATION = re.compile(r"([0-9]+)(s|m|h)")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds of a duration such as ``10m`` or ``1h30m``."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration like 10m or 1h30m: {text!r}")
    return float(sum(int(n) * _SECONDS[u] for n, u in parts))


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    target_queue_depth: int
    scale_down_delay_s: float
    max_num_seqs: int  # batch capacity of one replica (vLLM's --max-num-seqs)


@dataclass(frozen=True)
class Signals:
    """One observation of the model's demand."""

    ready: int  # ready replicas, read or not
    waiting: int  # sum of vllm:num_requests_waiting over those read
    running: int  # sum of vllm:num_requests_running over those read
    spilled: int  # requests the routers are serving from providers right now
    unread: tuple[str, ...] = ()  # pods and routers whose metrics did not answer

    @property
    def queue(self) -> int:
        return self.waiting + self.spilled

    @property
    def blind(self) -> bool:
        """Some demand may not be seen: a ready replica's or a router's metrics are missing."""
        return bool(self.unread)


@dataclass(frozen=True)
class Loading:
    """The youngest replica that is not Ready yet: still loading its weights, or failing to."""

    pod: str
    age_s: float  # since the pod was created


def still_loading(
    loading: Loading | None, *, ready: int, current: int, startup_timeout_s: float
) -> Loading | None:
    """``loading`` if it holds the replicas this tick: fewer are Ready than the ``current``
    replicas asked for, and it is younger than ``startup_timeout_s``; None otherwise.

    The bound is the operator's startup timeout (``startup_timeout_seconds``), the time its
    startup probe gives a replica to download and load weights before Kubernetes restarts it:
    what the user already told the operator a load may take. The CR's ``coldStart`` is the Cost
    policy's price of a start (3 minutes by default) and is routinely shorter than a real load
    of 10 minutes and more; bounded by it, the replica would be given back while loading again.
    Past the startup timeout the replica is failing, not loading (its age counts from the pod's
    creation, so a container restarting over and over does not renew it), and the replicas are
    no longer held for it: ``scaleDownDelay`` then runs as for any other drop in demand."""
    if loading is None or ready >= current or loading.age_s >= startup_timeout_s:
        return None
    return loading


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    reason: str  # CamelCase, for Events and status
    message: str


def recommend(signals: Signals, policy: Policy) -> Recommendation:
    """What this observation alone asks for (before stabilization and bounds)."""
    s, target = signals, policy.target_queue_depth
    detail = (
        f"queue {s.queue} (waiting {s.waiting} + spilled {s.spilled}), running {s.running}, "
        f"{s.ready} ready, target {target} queued per replica"
    )
    if s.queue > target * max(s.ready, 1) or (s.ready == 0 and s.queue > 0):
        wanted = s.ready + max(1, math.ceil((s.queue - target * s.ready) / target))
        return Recommendation(wanted, "QueueAboveTarget", detail)
    if s.queue == 0 and s.running == 0:
        return Recommendation(policy.min_replicas, "Idle", detail)
    if s.ready > 1 and s.queue == 0 and s.running <= (s.ready - 1) * policy.max_num_seqs // 2:
        return Recommendation(s.ready - 1, "Underused", detail)
    return Recommendation(max(s.ready, 1), "WithinTarget", detail)


@dataclass
class Stabilizer:
    """Scale-down stabilization over a window of past recommendations (one per CR)."""

    history: list[tuple[float, int]] = field(default_factory=list)

    def decide(
        self, now: float, wanted: int, *, current: int, policy: Policy, blind: bool = False
    ) -> int:
        """The replicas to run: up at once, down only to the window's highest wish, and never
        down while ``blind`` (some demand may be unseen: metrics missing, or a replica still
        loading, ``still_loading``)."""
        if blind:
            wanted = max(wanted, current)
        self.history.append((now, wanted))
        horizon = now - policy.scale_down_delay_s
        self.history = [(t, r) for t, r in self.history if t >= horizon]
        bounded = min(max(wanted, policy.min_replicas), policy.max_replicas)
        if bounded >= current:
            return bounded
        highest = max(r for _, r in self.history)
        return min(max(bounded, min(highest, current)), policy.max_replicas)


def never_down_blind(replicas: int, *, current: int, blind: bool, ceiling: int) -> int:
    """``replicas``, or ``current`` if that is more and the observation was ``blind``; never
    above ``ceiling`` (maxReplicas is configuration, not a reading, and applies either way)."""
    return min(max(replicas, current) if blind else replicas, ceiling)
