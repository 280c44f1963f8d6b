"""What the operator reports in a ``GptOssDeployment``'s ``status``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gptoss_operator.api.wire import ObjectName, ServedName, Wire

__all__ = [
    "AdapterStatus",
    "AutoscalingStatus",
    "Condition",
    "GptOssDeploymentStatus",
    "LearnedBurst",
    "LearnedStatus",
    "SizingStatus",
]

ConditionType = Annotated[
    str,
    StringConstraints(
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
    ),
]


class Condition(Wire):
    """A ``metav1.Condition`` (k8s.io/apimachinery ``pkg/apis/meta/v1/types.go``)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = Field(None, ge=0)
    last_transition_time: datetime
    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    message: str = Field(max_length=32768)


class SizingStatus(Wire):
    tensor_parallel_size: int | None = Field(None, ge=1)
    max_model_len: int | None = Field(None, ge=1)
    gpu_memory_utilization: float | None = None
    max_num_batched_tokens: int | None = Field(None, ge=1)
    kv_cache_gib: float | None = Field(None, alias="kvCacheGiB")
    max_full_length_sequences: int | None = Field(None, ge=0)
    max_num_seqs: int | None = Field(None, ge=1)
    max_loras: int | None = Field(None, ge=1)
    max_lora_rank: int | None = Field(None, ge=1)
    adapter_memory_gib: float | None = Field(None, alias="adapterMemoryGiB")


class LearnedBurst(Wire):
    start: datetime
    last: datetime
    excess_tokens_per_second: float = Field(ge=0)


class LearnedStatus(Wire):
    """What the Cost policy has learned (``autoscaling/learned.py`` reads it back)."""

    replica_of: str | None = Field(None, max_length=256)
    replica_tokens_per_second: float | None = Field(None, ge=0)
    replica_samples: int | None = Field(None, ge=0)
    providers_of: str | None = Field(None, max_length=1024)
    providers_tokens_per_second: float | None = Field(None, ge=0)
    bursts: list[LearnedBurst] | None = Field(None, max_length=32)
    demand_returned_after_seconds: list[Annotated[float, Field(ge=0)]] | None = Field(
        None, max_length=5
    )
    released_at: datetime | None = None
    written_at: datetime | None = None


class AutoscalingStatus(Wire):
    desired_replicas: int | None = Field(None, ge=0)
    reason: str | None = Field(None, max_length=64)
    message: str | None = Field(None, max_length=1024)
    last_scale_time: datetime | None = None
    demand_tokens_per_second: float | None = Field(None, ge=0)
    replica_tokens_per_second: float | None = Field(None, ge=0)
    local_dollars_per_hour: float | None = Field(None, ge=0)
    hosted_dollars_per_hour: float | None = Field(None, ge=0)
    learned: LearnedStatus | None = None


class AdapterStatus(Wire):
    name: ServedName
    ready_replicas: int = Field(ge=0)
    pods: list[ObjectName] | None = Field(None, max_length=64)


class GptOssDeploymentStatus(Wire):
    observed_generation: int | None = Field(None, ge=0)
    conditions: list[Condition] | None = Field(None, max_length=8)
    replicas: int | None = Field(None, ge=0)
    ready_replicas: int | None = Field(None, ge=0)
    selector: str | None = Field(None, max_length=1024)
    endpoint: str | None = Field(None, max_length=512)
    sizing: SizingStatus | None = None
    autoscaling: AutoscalingStatus | None = None
    image: str | None = Field(None, max_length=512)
    available_image: str | None = Field(None, max_length=512)
    inference_pool: str | None = Field(None, max_length=253)
    served_model_name: ServedName | None = None
    adapters: list[AdapterStatus] | None = Field(None, max_length=16)
