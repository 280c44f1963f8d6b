"""Typed views of a ``GptOssDeployment``'s spec and status (group ``gptoss.dev/v1alpha1``).

The hand-written CRD in ``crds/gptossdeployments.gptoss.dev.yaml`` is the source of truth for
the API server; these models are what the operator's code reads and writes. A test walks both
and requires the same fields, types, defaults and bounds. Field names are snake_case here and
camelCase on the wire (``model_validate`` accepts the wire form; dump with ``by_alias=True``).
Descriptions live in the CRD, where ``kubectl explain`` shows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

__all__ = [
    "Adapter",
    "AdapterStatus",
    "Autoscaling",
    "AutoscalingStatus",
    "Cache",
    "Condition",
    "EnvVar",
    "GptOssDeploymentSpec",
    "GptOssDeploymentStatus",
    "GpuSpec",
    "PodSettings",
    "PriceCap",
    "Serving",
    "SizingStatus",
    "Source",
    "Spillover",
    "TokenPrice",
    "Toleration",
    "VolumeClaim",
]

ModelName = Literal["gpt-oss-120b", "gpt-oss-20b"]
ProductName = Literal[
    "H100-80GB",
    "A100-80GB",
    "L4",
    "MI300X",
    "H200",
    "H100-NVL",
    "H100-PCIe",
    "A100-80GB-PCIe",
    "B200",
    "MI325X",
]
SpillCondition = Literal["Saturated", "ScaledToZero", "Unavailable"]
ObjectName = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
ProviderName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
Argument = Annotated[str, StringConstraints(max_length=256)]
# A name clients send as ``model``: a fine-tune's or a LoRA adapter's.
ServedName = Annotated[
    str, StringConstraints(max_length=128, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9._/]*[A-Za-z0-9])?$")
]
LoraRank = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]


class _Wire(BaseModel):
    """camelCase on the wire, unknown fields refused, values immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Source(_Wire):
    uri: str | None = Field(None, max_length=1024, pattern=r"^(hf|s3|gs|pvc)://.+$")
    secret_name: ObjectName | None = None
    revision: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class Adapter(_Wire):
    name: ServedName
    uri: str = Field(max_length=1024, pattern=r"^(hf|s3|gs|pvc)://.+$")
    rank: int = Field(ge=1, le=512)
    secret_name: ObjectName | None = None


class Toleration(_Wire):
    key: str | None = Field(None, max_length=253)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = Field(None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


class GpuSpec(_Wire):
    product: ProductName
    count: int | None = Field(None, ge=1, le=8)
    resource_name: str | None = Field(
        None, max_length=253, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$"
    )
    node_selector: dict[str, LabelValue] | None = Field(None, max_length=16)
    tolerations: list[Toleration] | None = Field(None, max_length=16)


class TokenPrice(_Wire):
    input: float | None = Field(None, ge=0)
    output: float | None = Field(None, ge=0)


class Autoscaling(_Wire):
    min_replicas: int = Field(1, ge=0, le=64)
    max_replicas: int = Field(ge=1, le=64)
    target_queue_depth: int = Field(5, ge=1, le=1000)
    scale_down_delay: str = Field("10m", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")
    policy: Literal["Queue", "Cost"] = "Queue"
    gpu_hourly_price: float | None = Field(None, ge=0)
    hosted_price_per_million_tokens: TokenPrice | None = None
    cold_start: str = Field("3m", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")
    burst_standby: str = Field("0s", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")


class EnvVar(_Wire):
    name: str = Field(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str | None = Field(None, max_length=4096)


class Serving(_Wire):
    max_model_len: int = Field(131072, ge=256)
    gpu_memory_utilization: float | None = Field(None, ge=0.5, le=0.98)
    max_num_batched_tokens: int | None = Field(None, ge=256, le=65536)
    max_num_seqs: int | None = Field(None, ge=1, le=1024)
    tool_calling: bool = True
    reasoning_parser: bool = True
    image: str | None = Field(None, max_length=512)
    extra_args: list[Argument] | None = Field(None, max_length=32)
    env: list[EnvVar] | None = Field(None, max_length=32)
    max_loras: int | None = Field(None, ge=1, le=64)
    max_lora_rank: LoraRank | None = None


class VolumeClaim(_Wire):
    name: ObjectName | None = None
    create: bool = True
    size: str = Field(
        "150Gi", max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
    )
    storage_class_name: str | None = Field(None, max_length=253)
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"] = "ReadWriteOnce"


class Cache(_Wire):
    pvc: VolumeClaim | None = None
    tiktoken_encodings_url: str | None = Field(None, max_length=1024, pattern=r"^https?://.+$")


class PriceCap(_Wire):
    input: float | None = Field(None, ge=0)
    output: float | None = Field(None, ge=0)


class Spillover(_Wire):
    providers: list[ProviderName] | None = Field(None, max_length=8)
    max_price_per_million_tokens: PriceCap | None = None
    when: list[SpillCondition] = Field(
        default=["Saturated", "ScaledToZero", "Unavailable"], max_length=3
    )
    accept_base_model: bool = False


class PodSettings(_Wire):
    labels: dict[str, LabelValue] | None = Field(None, max_length=32)
    annotations: dict[str, Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        None, max_length=32
    )
    priority_class_name: str | None = Field(None, max_length=253)
    service_account_name: str | None = Field(None, max_length=253)


class EndpointPicker(_Wire):
    name: ObjectName | None = None
    port: int = Field(9002, ge=1, le=65535)
    kind: str = Field("Service", min_length=1, max_length=63)
    group: str = Field("", max_length=253)
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"


class InferencePoolSettings(_Wire):
    enabled: bool = False
    endpoint_picker: EndpointPicker | None = None


class Rollout(_Wire):
    surge: Literal["Auto", "Always", "Never"] = "Auto"
    termination_grace_period_seconds: int = Field(600, ge=30, le=86400)


class GptOssDeploymentSpec(_Wire):
    model: ModelName
    served_model_name: ServedName | None = None
    source: Source | None = None
    adapters: list[Adapter] | None = Field(None, max_length=16)
    adapter_loading: Literal["Startup", "Runtime"] = "Startup"
    gpu: GpuSpec
    replicas: int = Field(1, ge=0, le=64)
    autoscaling: Autoscaling | None = None
    # The CRD defaults serving to {} so that its own defaults apply; the instance here is the same.
    serving: Serving = Field(default=Serving.model_validate({}), json_schema_extra={"default": {}})
    cache: Cache | None = None
    spillover: Spillover | None = None
    pod: PodSettings | None = None
    rollout: Rollout | None = None
    inference_pool: InferencePoolSettings | None = None


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


class Condition(_Wire):
    """A ``metav1.Condition`` (k8s.io/apimachinery ``pkg/apis/meta/v1/types.go``)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = Field(None, ge=0)
    last_transition_time: datetime
    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    message: str = Field(max_length=32768)


class SizingStatus(_Wire):
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


class LearnedBurst(_Wire):
    start: datetime
    last: datetime
    excess_tokens_per_second: float = Field(ge=0)


class LearnedStatus(_Wire):
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


class AutoscalingStatus(_Wire):
    desired_replicas: int | None = Field(None, ge=0)
    reason: str | None = Field(None, max_length=64)
    message: str | None = Field(None, max_length=1024)
    last_scale_time: datetime | None = None
    demand_tokens_per_second: float | None = Field(None, ge=0)
    replica_tokens_per_second: float | None = Field(None, ge=0)
    local_dollars_per_hour: float | None = Field(None, ge=0)
    hosted_dollars_per_hour: float | None = Field(None, ge=0)
    learned: LearnedStatus | None = None


class AdapterStatus(_Wire):
    name: ServedName
    ready_replicas: int = Field(ge=0)
    pods: list[ObjectName] | None = Field(None, max_length=64)


class GptOssDeploymentStatus(_Wire):
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
