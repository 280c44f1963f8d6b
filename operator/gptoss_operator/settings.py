"""Operator settings, read once from the environment (prefix ``GPTOSS_OPERATOR_``) at startup
and passed down; nothing else reads the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["OperatorSettings"]


class OperatorSettings(BaseSettings):
    """What a platform team may tune without touching a GptOssDeployment."""

    model_config = SettingsConfigDict(env_prefix="GPTOSS_OPERATOR_", frozen=True)

    vllm_image_nvidia: str = Field(
        "vllm/vllm-openai:v0.17.0",
        description="vLLM image for NVIDIA GPUs (spec.serving.image wins)",
    )
    vllm_image_amd: str = Field(
        "vllm/vllm-openai-rocm:v0.17.0", description="vLLM image for AMD GPUs (ROCm build)"
    )
    resync_seconds: float = Field(
        15.0,
        gt=0,
        description="how often every GptOssDeployment is re-observed and its status refreshed",
    )
    startup_timeout_seconds: int = Field(
        3600,
        ge=60,
        description=(
            "how long a replica may take to download and load weights before the startup probe "
            "gives up; liveness and readiness do not run until it succeeds"
        ),
    )
    shm_size: str = Field("16Gi", description="size of /dev/shm (NCCL needs it with several GPUs)")
    autoscale_interval_seconds: float = Field(
        1.0, gt=0, description="how often the autoscaler reads queues and decides replicas"
    )
    router_metrics_url: str | None = Field(
        None,
        description=(
            "the router's Prometheus endpoint (e.g. http://gptoss-router.gptoss.svc:8080/metrics),"
            " read for spilled demand; unset, the autoscaler sees only the replicas' queues"
        ),
    )
