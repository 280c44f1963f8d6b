"""One deployment whose tick fails (a pod list refused, a scale the API server did not take)
neither ends the tick for the others nor leaves their reads running into the next tick: every
deployment's work ends within its tick, and the failure is logged naming the deployment."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.autoscaling.loop import Autoscaler, Decision
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings


def _cr(name: str) -> dict[str, Any]:
    return {
        "metadata": {"uid": f"u-{name}", "namespace": "ml", "name": name},
        "spec": {"autoscaling": {"policy": "Queue"}},
    }


class _Kube:
    def list(self, *_: Any, **__: Any) -> list[dict[str, Any]]:
        return [_cr("refused"), _cr("slow")]


def test_a_failing_deployment_leaves_the_others_to_finish_within_the_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    autoscaler = Autoscaler(
        kube=cast(Kube, _Kube()), settings=OperatorSettings(), http=cast(httpx.AsyncClient, None)
    )
    finished: list[str] = []

    async def one(cr: dict[str, Any], routers: Any, logger: Any) -> Decision | None:
        name = cr["metadata"]["name"]
        if name == "refused":
            raise KubeError("pods is forbidden")
        for _ in range(5):  # reads that outlast the other deployment's failure
            await asyncio.sleep(0)
        finished.append(name)
        return Decision("ml", name, 1, 2, "QueueAboveTarget", "queue 9 over 2 replicas")

    autoscaler._one = one  # type: ignore[method-assign]
    log = logging.getLogger("autoscaler-test")
    with caplog.at_level(logging.WARNING, logger="autoscaler-test"):
        decisions = asyncio.run(autoscaler.tick(log))
    assert [(d.name, d.replicas) for d in decisions] == [("slow", 2)]
    assert finished == ["slow"]
    assert any(
        "ml/refused" in r.getMessage() and "forbidden" in r.getMessage() for r in caplog.records
    )
