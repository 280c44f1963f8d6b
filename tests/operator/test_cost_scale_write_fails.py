"""A move of the cost policy whose ``/scale`` write fails did not happen: its evidence stands,
so the next tick makes the move at once instead of gathering a cold start's worth again, and
no release is kept in status for a move down that was never made."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from prometheus_client import CollectorRegistry

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.by_cost import CostScaling
from gptoss_operator.autoscaling.decide import Signals
from gptoss_operator.autoscaling.policies import cost_policy
from gptoss_operator.autoscaling.remembering import Remembering
from gptoss_operator.autoscaling.signals import DemandMeter, PodQueue
from gptoss_operator.autoscaling.spill import RouterSpill
from gptoss_operator.autoscaling.telling import Telling
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.metrics import OperatorMetrics
from gptoss_operator.settings import OperatorSettings

CR = {"metadata": {"uid": "u-1", "namespace": "ml", "name": "chat", "generation": 1}}
SPEC = GptOssDeploymentSpec.model_validate(
    {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "replicas": 2,
        "spillover": {"when": ["Saturated"]},
        "autoscaling": {
            "policy": "Cost",
            "minReplicas": 0,
            "maxReplicas": 2,
            "gpuHourlyPrice": 3.0,
            "coldStart": "60s",
        },
    }
)
LOG = logging.getLogger(__name__)


class _Kube:
    """Status patches and scales recorded; a scale fails while ``failing``."""

    def __init__(self) -> None:
        self.failing = False
        self.scales: list[int] = []
        self.statuses: list[dict[str, Any]] = []

    def patch_status(self, *args: Any, **_: Any) -> None:
        self.statuses.append(args[-1])

    def scale(self, api_version: str, kind: str, namespace: str, name: str, replicas: int) -> None:
        if self.failing:
            raise KubeError("the API server is away")
        self.scales.append(replicas)

    def post_event(self, *args: Any, **_: Any) -> None:
        pass


def _ticks(kube: _Kube, *, fail_first: bool) -> list[tuple[float, int]]:
    """A quiet model (no demand at all) on two replicas, one tick a second: when each scale was
    written, and to what; the first write fails when ``fail_first``."""
    scaling = CostScaling(
        cast(Kube, kube),
        OperatorSettings(),
        Telling(cast(Kube, kube)),
        Remembering(cast(Kube, kube)),
        OperatorMetrics(CollectorRegistry()),
    )
    policy = cost_policy(SPEC)
    assert policy is not None
    meter, spec, written = DemandMeter(), SPEC, []
    pods = {"a": PodQueue(0, 0, 0.0, 0.0, 0.0), "b": PodQueue(0, 0, 0.0, 0.0, 0.0)}
    for second in range(1200):
        now = 1000.0 + second
        meter.observe(now, pods, RouterSpill(0, 0))
        kube.failing = fail_first and not kube.scales and not written
        try:
            decision = asyncio.run(
                scaling.decide(
                    CR,
                    spec,
                    Signals(ready=spec.replicas, waiting=0, running=0, spilled=0),
                    policy,
                    meter,
                    None,
                    now=now,
                    wall=1.7e9 + now,
                    logger=LOG,
                )
            )
        except KubeError:
            written.append((now, -1))  # the attempt, failed
            continue
        if decision is not None:
            written.append((now, decision.replicas))
            spec = spec.model_copy(update={"replicas": decision.replicas})
            break
    return written


def test_a_move_whose_scale_write_failed_is_made_at_the_next_tick() -> None:
    failed = _ticks(_Kube(), fail_first=True)
    (tried, _), (made, replicas) = failed
    assert made == tried + 1.0  # on the same evidence, not a cold start's worth more
    assert replicas < 2


def test_no_release_is_kept_in_status_before_the_move_down_is_written() -> None:
    kube = _Kube()
    _ticks(kube, fail_first=True)
    released = [
        s["autoscaling"]["learned"].get("releasedAt")
        for s in kube.statuses
        if "learned" in s.get("autoscaling", {})
    ]
    # the one release kept is the written move's, at the tick after the failed attempt
    assert [r for r in released if r is not None][:1] == [released[-1]]
    assert len(kube.scales) == 1


def test_the_move_after_a_failed_write_is_the_one_an_unfailed_run_makes() -> None:
    [(at, replicas)] = _ticks(_Kube(), fail_first=False)
    failed = _ticks(_Kube(), fail_first=True)
    assert failed[0][0] == at and failed[1][1] == replicas
