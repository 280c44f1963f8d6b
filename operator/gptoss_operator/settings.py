"""Operator settings, read once from the environment (prefix ``GPTOSS_OPERATOR_``) at startup
and passed down; nothing else reads the environment."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["OperatorSettings", "TokenPrices"]


class TokenPrices(BaseModel):
    """A provider's price for one model, dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


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
    upgrade_budget: int = Field(
        1,
        ge=1,
        le=1000,
        description=(
            "how many gptoss Deployments may be rolling out when the operator starts a pod "
            "template change that no CR asked for (an operator upgrade)"
        ),
    )
    shm_size: str = Field("16Gi", description="size of /dev/shm (NCCL needs it with several GPUs)")
    autoscale_interval_seconds: float = Field(
        1.0, gt=0, description="how often the autoscaler reads queues and decides replicas"
    )
    adapter_sync_seconds: float = Field(
        5.0,
        gt=0,
        description=(
            "how often the operator reads each vLLM pod's /v1/models for its LoRA adapters and, "
            "with spec.adapterLoading Runtime, loads and unloads them"
        ),
    )
    router_metrics_url: str | None = Field(
        None,
        description=(
            "Prometheus endpoints of routers outside the cluster, comma-separated (e.g. "
            "http://10.0.0.5:8080/metrics,http://10.0.0.6:8080/metrics), each read for spilled"
            " demand; router pods in the cluster are found with router_selector instead"
        ),
    )
    router_namespace: str | None = Field(
        None, description="namespace of the router pods (unset: every namespace)"
    )
    router_selector: str | None = Field(
        None,
        description=(
            "label selector of the router pods, each of whose /metrics is read for spilled demand"
            " (e.g. app.kubernetes.io/component=router,app.kubernetes.io/instance=gptoss); unset"
            " with router_metrics_url unset too, the autoscaler sees only the replicas' queues"
        ),
    )
    router_metrics_port: int = Field(8080, ge=1, le=65535, description="router pods' port")
    router_metrics_path: str = Field("/metrics", description="router pods' metrics path")
    gpu_hourly_prices: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'dollars per GPU-hour by spec.gpu.product, as JSON: {"H100-80GB": 2.69}; what'
            " the cost policy charges a replica's GPUs unless the GptOssDeployment sets"
            " autoscaling.gpuHourlyPrice (a product not listed takes a built-in list price)"
        ),
    )
    gpu_billing_seconds: float = Field(
        1.0,
        ge=1,
        description=(
            "the period GPU time is billed in (1: per second, 60: per minute, 3600: per started"
            " hour); the cost policy keeps a replica to the end of a period it has paid for"
        ),
    )
    provider_prices: dict[str, dict[str, TokenPrices]] | None = Field(
        None,
        description=(
            "the router's provider table, as JSON: provider -> model -> {input, output} dollars"
            " per million tokens (the chart mirrors it from router.config.providers); the cost"
            " policy prices overflow at the cheapest provider a GptOssDeployment's spillover"
            " admits. Unset: the models' list prices"
        ),
    )
    leader_election_lease: str | None = Field(
        None,
        description=(
            "name of the coordination.k8s.io Lease the operator's replicas elect a leader with;"
            " unset, this process acts alone (one replica only)"
        ),
    )
    leader_election_namespace: str | None = Field(
        None, description="namespace of that Lease (required with it)"
    )
    leader_election_identity: str | None = Field(
        None, description="this replica's name in the Lease (unset: host name and a random id)"
    )
    leader_election_lease_seconds: int = Field(
        8, ge=2, description="how long a standby waits after the last renewal it saw"
    )
    leader_election_renew_deadline_seconds: float = Field(
        6.0, gt=0, description="how long the leader keeps trying to renew before it stops"
    )
    leader_election_retry_seconds: float = Field(
        1.0, gt=0, description="how often the leader renews and a standby tries to take over"
    )
    vllm_clients_namespace: str | None = Field(
        None,
        description=(
            "namespace of the router and operator pods, the only ones allowed to reach vLLM's "
            "port (a NetworkPolicy per GptOssDeployment); unset, no NetworkPolicy is made"
        ),
    )
    vllm_client_labels: list[dict[str, str]] = Field(
        default_factory=list,
        description=(
            "labels of the pods in vllm_clients_namespace allowed to reach vLLM's port, one map "
            'per kind of pod, as JSON: [{"app.kubernetes.io/component": "router"}, ...]'
        ),
    )

    @model_validator(mode="after")
    def _lease_has_a_namespace(self) -> Self:
        if self.leader_election_lease and not self.leader_election_namespace:
            raise ValueError("leader_election_lease needs leader_election_namespace")
        return self

    @model_validator(mode="after")
    def _gpu_prices_are_prices(self) -> Self:
        for product, price in self.gpu_hourly_prices.items():
            if not price >= 0:
                raise ValueError(f"gpu_hourly_prices[{product!r}] must be >= 0, got {price}")
        return self

    @property
    def hosted_price_table(self) -> dict[str, dict[str, tuple[float, float]]] | None:
        """``provider_prices`` as provider -> model -> (input, output)."""
        if self.provider_prices is None:
            return None
        return {
            provider: {model: (p.input, p.output) for model, p in models.items()}
            for provider, models in self.provider_prices.items()
        }

    @property
    def router_urls(self) -> tuple[str, ...]:
        """The static router endpoints of ``router_metrics_url``."""
        given = self.router_metrics_url or ""
        return tuple(url.strip() for url in given.split(",") if url.strip())
