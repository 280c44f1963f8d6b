"""What users write in a ``GptOssDeployment``'s ``spec``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gptoss_operator.api.wire import (
    Argument,
    LabelValue,
    LoraRank,
    ModelName,
    ObjectName,
    ProductName,
    ProviderName,
    ServedName,
    SpillCondition,
    Wire,
)

__all__ = [
    "Adapter",
    "Autoscaling",
    "Cache",
    "EndpointPicker",
    "EnvVar",
    "GptOssDeploymentSpec",
    "GpuSpec",
    "InferencePoolSettings",
    "PodSettings",
    "PriceCap",
    "Rollout",
    "Serving",
    "Source",
    "Spillover",
    "TokenPrice",
    "Toleration",
    "VolumeClaim",
]


class Source(Wire):
    uri: str | None = Field(None, max_length=1024, pattern=r"^(hf|s3|gs|pvc)://.+$")
    secret_name: ObjectName | None = None
    revision: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class Adapter(Wire):
    name: ServedName
    uri: str = Field(max_length=1024, pattern=r"^(hf|s3|gs|pvc)://.+$")
    rank: int = Field(ge=1, le=512)
    secret_name: ObjectName | None = None


class Toleration(Wire):
    key: str | None = Field(None, max_length=253)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = Field(None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


class GpuSpec(Wire):
    product: ProductName
    count: int | None = Field(None, ge=1, le=8)
    resource_name: str | None = Field(
        None, max_length=253, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$"
    )
    node_selector: dict[str, LabelValue] | None = Field(None, max_length=16)
    tolerations: list[Toleration] | None = Field(None, max_length=16)


class TokenPrice(Wire):
    input: float | None = Field(None, ge=0)
    output: float | None = Field(None, ge=0)


class Autoscaling(Wire):
    min_replicas: int = Field(1, ge=0, le=64)
    max_replicas: int = Field(ge=1, le=64)
    target_queue_depth: int = Field(5, ge=1, le=1000)
    scale_down_delay: str = Field("10m", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")
    policy: Literal["Queue", "Cost"] = "Queue"
    gpu_hourly_price: float | None = Field(None, ge=0)
    hosted_price_per_million_tokens: TokenPrice | None = None
    cold_start: str = Field("3m", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")
    burst_standby: str = Field("0s", max_length=16, pattern=r"^([0-9]+(s|m|h))+$")


class EnvVar(Wire):
    name: str = Field(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str | None = Field(None, max_length=4096)


class Serving(Wire):
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


class VolumeClaim(Wire):
    name: ObjectName | None = None
    create: bool = True
    size: str = Field(
        "150Gi", max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
    )
    storage_class_name: str | None = Field(None, max_length=253)
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"] = "ReadWriteOnce"


class Cache(Wire):
    pvc: VolumeClaim | None = None
    tiktoken_encodings_url: str | None = Field(None, max_length=1024, pattern=r"^https?://.+$")


class PriceCap(Wire):
    input: float | None = Field(None, ge=0)
    output: float | None = Field(None, ge=0)


class Spillover(Wire):
    providers: list[ProviderName] | None = Field(None, max_length=8)
    max_price_per_million_tokens: PriceCap | None = None
    when: list[SpillCondition] = Field(
        default=["Saturated", "ScaledToZero", "Unavailable"], max_length=3
    )
    accept_base_model: bool = False


class PodSettings(Wire):
    labels: dict[str, LabelValue] | None = Field(None, max_length=32)
    annotations: dict[str, Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        None, max_length=32
    )
    priority_class_name: str | None = Field(None, max_length=253)
    service_account_name: str | None = Field(None, max_length=253)


class EndpointPicker(Wire):
    name: ObjectName | None = None
    port: int = Field(9002, ge=1, le=65535)
    kind: str = Field("Service", min_length=1, max_length=63)
    group: str = Field("", max_length=253)
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"


class InferencePoolSettings(Wire):
    enabled: bool = False
    endpoint_picker: EndpointPicker | None = None


class Rollout(Wire):
    surge: Literal["Auto", "Always", "Never"] = "Auto"
    termination_grace_period_seconds: int = Field(600, ge=30, le=86400)


class GptOssDeploymentSpec(Wire):
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
