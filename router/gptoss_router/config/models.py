"""The models the router serves: each one's local pool of pods and its spillover policy."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from gptoss_router.config.base import Strict
from gptoss_router.config.prices import Price, PriceCap

__all__ = ["LocalPoolConfig", "ModelConfig", "SpillCondition", "SpilloverConfig"]


class SpillCondition(StrEnum):
    """Why local pods cannot take a request."""

    SCALED_TO_ZERO = "scaled_to_zero"
    UNAVAILABLE = "unavailable"
    SATURATED = "saturated"


class SpilloverConfig(Strict):
    """Which providers may take a model's overflow, at what price, and when."""

    providers: frozenset[str] | None = None
    max_price: PriceCap = PriceCap()
    when: frozenset[SpillCondition] = frozenset(SpillCondition)
    latency_target_s: float = Field(default=20.0, gt=0)


class LocalPoolConfig(Strict):
    """Local vLLM pods serving one model, listed statically."""

    pods: list[str] = []  # noqa: RUF012 - a pydantic field, copied per instance
    served_model: str | None = None
    # A pod with this many requests waiting has no free capacity; the GIE saturation detector
    # defaults to 5 (docs/sources.md, vLLM metrics), the CRD's targetQueueDepth example to 4.
    max_queue_depth: int = Field(default=4, ge=0)
    max_inflight: int = Field(default=256, ge=1)
    scrape: bool = True
    # What a local token costs an app's dollar budget; the GPUs are paid for, so 0 by default.
    price: Price = Price(input=0.0, output=0.0)


class ModelConfig(Strict):
    """One model the router serves.

    A fine-tune or a LoRA adapter is a model of its own: ``parent`` names what it was made from
    (shown in /v1/models), and its overflow goes to providers only under ``hosted_as``, the
    providers' model it accepts in its place (None: providers must list this very name, which
    for a fine-tune none does, so it never spills to a different model by accident).
    ``namespaces``: the namespaces of the GptOssDeployments serving it (None: not from the
    cluster, any app may use it).
    """

    local: LocalPoolConfig = LocalPoolConfig()
    spillover: SpilloverConfig = SpilloverConfig()
    default_output_tokens: int = Field(default=1024, ge=1)
    parent: str | None = None
    hosted_as: str | None = None
    namespaces: frozenset[str] | None = None
