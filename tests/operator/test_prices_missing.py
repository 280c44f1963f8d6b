"""A Cost-policy GptOssDeployment whose GPU has no price (no spec.autoscaling.gpuHourlyPrice, no
operator.gpuHourlyPrices entry, no list price; the API server accepts it, test_crd_rejects):
the Cost policy is not applied, ``missing_gpu_price`` says why, naming both places a price can
go, and ``Telling.no_gpu_price`` writes that to ``status.autoscaling`` and a Warning Event,
once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.decide import Signals
from gptoss_operator.autoscaling.loop import Autoscaler
from gptoss_operator.autoscaling.policies import cost_policy
from gptoss_operator.autoscaling.prices import (
    DEFAULT_GPU_HOURLY_PRICE,
    NO_GPU_PRICE,
    missing_gpu_price,
)
from gptoss_operator.autoscaling.telling import Telling
from gptoss_operator.errors import KubeError
from gptoss_operator.kube.client import Kube
from gptoss_operator.settings import OperatorSettings


def _spec(product: str, **autoscaling: Any) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(
        {
            "model": "gpt-oss-120b",
            "gpu": {"product": product},
            "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "policy": "Cost", **autoscaling},
        }
    )


def test_a_product_nothing_prices_is_missing_a_price_naming_the_field_and_the_value() -> None:
    message = missing_gpu_price("H200", from_cr=None, from_operator={"H100-80GB": 2.0})
    assert message is not None
    assert "price per GPU-hour of H200" in message
    assert "spec.autoscaling.gpuHourlyPrice" in message
    assert "H200 in the chart's operator.gpuHourlyPrices" in message
    assert "the autoscaler scales nothing" in message
    assert all(product in message for product in DEFAULT_GPU_HOURLY_PRICE)


@pytest.mark.parametrize(
    ("product", "from_cr", "from_operator"),
    [
        ("H200", 3.1, {}),
        ("H200", None, {"H200": 3.5}),
        ("H100-80GB", None, {}),
        ("H200", 0.0, {}),
    ],
    ids=["the-cr", "the-operator", "a-list-price", "a-free-gpu"],
)
def test_a_price_from_any_source_means_none_is_missing(
    product: str, from_cr: float | None, from_operator: dict[str, float]
) -> None:
    assert missing_gpu_price(product, from_cr=from_cr, from_operator=from_operator) is None


def test_the_cost_policy_is_not_applied_to_a_product_nothing_prices() -> None:
    assert cost_policy(_spec("H200")) is None
    assert cost_policy(_spec("H200"), gpu_prices={"H100-80GB": 2.0}) is None


def test_a_product_the_operator_prices_gets_the_cost_policy_at_that_price() -> None:
    """A product without a capacity figure of its own starts from the H100's per GPU (until
    its replicas are measured) rather than stop the autoscaler."""
    priced = cost_policy(_spec("H200"), gpu_prices={"H200": 3.5})
    h100 = cost_policy(_spec("H100-80GB"))
    assert priced is not None and priced.gpu_hourly == 3.5
    assert h100 is not None
    assert priced.capacity_prior / priced.gpus == h100.capacity_prior / h100.gpus


@dataclass
class _Recorder:
    """The two writes ``Telling.no_gpu_price`` makes, recorded; the status write may fail."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    failing: bool = False

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        if self.failing:
            raise KubeError("the API server is away")
        self.statuses.append({"at": f"{namespace}/{name}", **status})
        return {}

    def post_event(
        self, involved: dict[str, Any], *, type: str, reason: str, message: str, now: str
    ) -> None:
        self.events.append({"type": type, "reason": reason, "message": message})


CR = {"metadata": {"uid": "u-1", "namespace": "ml", "name": "chat", "generation": 1}}


def test_the_status_and_a_warning_say_it_once_while_it_stays_unpriced() -> None:
    kube = _Recorder()
    telling = Telling(cast(Kube, kube))
    message = missing_gpu_price("H200", from_cr=None, from_operator={})
    assert message is not None
    for _ in range(3):
        asyncio.run(telling.no_gpu_price(CR, message))
    assert kube.statuses == [
        {"at": "ml/chat", "autoscaling": {"reason": NO_GPU_PRICE, "message": message}}
    ]
    assert kube.events == [{"type": "Warning", "reason": "NoGPUPrice", "message": message}]


def test_a_status_write_that_failed_is_made_on_the_next_tick() -> None:
    kube = _Recorder(failing=True)
    telling = Telling(cast(Kube, kube))
    asyncio.run(telling.no_gpu_price(CR, "no price"))
    assert kube.statuses == [] and kube.events == []
    kube.failing = False
    asyncio.run(telling.no_gpu_price(CR, "no price"))
    assert [s["autoscaling"]["reason"] for s in kube.statuses] == ["NoGPUPrice"]
    assert len(kube.events) == 1


class _Cluster:
    """What the autoscaler writes, recorded: status patches and Events."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[str] = []

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Any, **_: Any
    ) -> dict[str, Any]:
        self.statuses.append(status)
        return {}

    def post_event(self, involved: dict[str, Any], *, reason: str, **_: Any) -> None:
        self.events.append(reason)


def test_the_autoscaler_scales_nothing_at_no_price_and_says_why_in_status() -> None:
    """Demand far past the queue target, a Cost policy at no known price: no replica is bought
    or given back, and status.autoscaling says what to set."""
    cluster = _Cluster()
    autoscaler = Autoscaler(
        kube=cast(Kube, cluster), settings=OperatorSettings(), http=cast(httpx.AsyncClient, None)
    )

    async def busy(*_: Any) -> Signals:
        return Signals(ready=1, waiting=200, running=64, spilled=40)

    autoscaler._signals = busy  # type: ignore[method-assign]
    cr = {
        "metadata": {"uid": "u-2", "namespace": "ml", "name": "chat", "generation": 1},
        "spec": {**_spec("H200").model_dump(by_alias=True, exclude_none=True), "replicas": 1},
    }
    decisions = [asyncio.run(autoscaler._one(cr, {}, logging.getLogger("test"))) for _ in range(2)]
    assert decisions == [None, None]
    said = [s["autoscaling"] for s in cluster.statuses if "autoscaling" in s]
    assert [s["reason"] for s in said] == [NO_GPU_PRICE]
    assert "set spec.autoscaling.gpuHourlyPrice, or H200" in said[0]["message"]
    assert cluster.events.count(NO_GPU_PRICE) == 1
