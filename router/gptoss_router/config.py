"""The shape of the router's configuration: models, local pools, providers, apps, tuning.

Pure data (pydantic models). Reading the file and the environment lives in ``settings.py``.
Secrets are ``SecretStr`` and may come inline, from a mounted Secret file or from a named
environment variable; they are resolved once, when the configuration is validated.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from gptoss_router.errors import ConfigError

__all__ = [
    "ROUTES",
    "AppConfig",
    "AppLimits",
    "LocalPoolConfig",
    "ModelConfig",
    "Price",
    "PriceCap",
    "ProviderConfig",
    "ProviderKind",
    "ProviderModel",
    "SpillCondition",
    "SpilloverConfig",
    "StoreConfig",
    "Tuning",
]

ROUTES = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/models"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """A secret given inline (``key``), by file (``key_file``) or by env variable (``key_env``)."""

    key: SecretStr | None = None
    key_file: Path | None = None
    key_env: str | None = None

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        if self.key is not None:
            return self
        value: str | None = None
        if self.key_file is not None:
            try:
                value = self.key_file.read_text().strip()
            except OSError as err:
                raise ConfigError(f"cannot read key_file {self.key_file}: {err.strerror}") from None
        elif self.key_env is not None:
            value = os.environ.get(self.key_env)
            if not value:
                raise ConfigError(f"environment variable {self.key_env} is empty or unset")
        if value is not None:
            object.__setattr__(self, "key", SecretStr(value))
        return self


class Price(_Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class PriceCap(_Strict):
    """Most a request may pay per million tokens; ``None`` means no cap on that side."""

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)

    def admits(self, price: Price) -> bool:
        """Whether a backend at ``price`` stays within this cap."""
        within_in = self.input is None or price.input <= self.input
        return within_in and (self.output is None or price.output <= self.output)

    def tighten(self, other: PriceCap) -> PriceCap:
        """The stricter of two caps, side by side."""
        if other.input is None and other.output is None:
            return self
        if self.input is None and self.output is None:
            return other

        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        return PriceCap(input=low(self.input, other.input), output=low(self.output, other.output))


class ProviderKind(StrEnum):
    """Dialects the router knows (docs/sources.md, Providers); ``openai`` is any compatible API."""

    VLLM = "vllm"
    GROQ = "groq"
    FIREWORKS = "fireworks"
    TOGETHER = "together"
    CEREBRAS = "cerebras"
    OPENAI = "openai"


class ProviderModel(_Strict):
    """How one provider names and prices one of our models."""

    id: str
    price: Price


class ProviderConfig(SecretRef):
    """A hosted OpenAI-compatible provider."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    kind: ProviderKind = ProviderKind.OPENAI
    base_url: str
    models: dict[str, ProviderModel]
    # Priors until measurements arrive (EWMA seeds); published speeds: docs/sources.md, Providers.
    expected_ttft_s: float = Field(default=1.0, gt=0)
    expected_tokens_per_s: float = Field(default=300.0, gt=0)
    capabilities: frozenset[str] | None = None
    drop_params: frozenset[str] = frozenset()


class SpillCondition(StrEnum):
    """Why local pods cannot take a request."""

    SCALED_TO_ZERO = "scaled_to_zero"
    UNAVAILABLE = "unavailable"
    SATURATED = "saturated"


class SpilloverConfig(_Strict):
    """Which providers may take a model's overflow, at what price, and when."""

    providers: frozenset[str] | None = None
    max_price: PriceCap = PriceCap()
    when: frozenset[SpillCondition] = frozenset(SpillCondition)
    latency_target_s: float = Field(default=20.0, gt=0)


class LocalPoolConfig(_Strict):
    """Local vLLM pods serving one model, listed statically."""

    pods: list[str] = []
    served_model: str | None = None
    # A pod with this many requests waiting has no free capacity; the GIE saturation detector
    # defaults to 5 (docs/sources.md, vLLM metrics), the CRD's targetQueueDepth example to 4.
    max_queue_depth: int = Field(default=4, ge=0)
    max_inflight: int = Field(default=256, ge=1)
    scrape: bool = True
    # What a local token costs an app's dollar budget; the GPUs are paid for, so 0 by default.
    price: Price = Price(input=0.0, output=0.0)


class ModelConfig(_Strict):
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


class AppLimits(_Strict):
    """How much an app may use, across every router replica; ``None`` means no limit.

    Requests and tokens per minute are sliding windows; dollars per UTC day and calendar month
    are budgets at the router's list prices (docs/limits.md states the bounds). When the store
    cannot be reached, ``on_store_loss`` decides: ``open`` enforces each limit per replica on
    its share, ``closed`` refuses with 503 until the store is back.
    """

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    dollars_per_day: float | None = Field(default=None, gt=0)
    dollars_per_month: float | None = Field(default=None, gt=0)
    on_store_loss: Literal["open", "closed"] = "open"


class AppConfig(SecretRef):
    """An app allowed to call the router, and what it may do."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    routes: frozenset[str] = ROUTES
    # Hide gpt-oss's chain of thought on every route, streamed or not: reasoning fields, items
    # and events, the logprobs of reasoning tokens, and the analysis channel at the head of
    # /v1/completions text (a completion that itself begins with "analysis" shows only what
    # follows an answer mark; see openai/replies.py).
    strip_reasoning: bool = False
    local: bool = True
    hosted: bool = True
    max_price: PriceCap = PriceCap()
    limits: AppLimits = AppLimits()
    # The namespaces whose GptOssDeployments this app may reach (None: every namespace). A
    # model served only elsewhere is, for this app, a model that does not exist.
    namespaces: frozenset[str] | None = None

    @model_validator(mode="after")
    def _known_routes(self) -> Self:
        unknown = self.routes - ROUTES
        if unknown:
            raise ConfigError(f"app {self.name}: unknown routes {sorted(unknown)}")
        if self.key is None:
            raise ConfigError(f"app {self.name}: no key, key_file or key_env")
        return self


class Tuning(_Strict):
    """Timeouts, failover and health knobs.

    Defaults follow Envoy where it has one (docs/sources.md, Failover).
    """

    connect_timeout_s: float = Field(default=2.0, gt=0)
    first_byte_timeout_s: float = Field(default=60.0, gt=0)
    response_timeout_s: float = Field(default=600.0, gt=0)
    idle_timeout_s: float = Field(default=60.0, gt=0)
    # Whole (non-streamed) answers are asked of backends as streams and assembled, so the two
    # timeouts above apply to them too and a backend that hangs or breaks mid-answer is left for
    # the next one (proxy/gather.py); false: only response_timeout_s bounds them.
    gather_streams: bool = True
    max_attempts: int = Field(default=4, ge=1, le=5)  # gRPC A6 caps attempts at 5
    # Retries add at most this share of the requests of the last 10 s (budget.py; Envoy and
    # Finagle both default to 20 %), plus ``retry_budget_min`` retries per second at any traffic.
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    retry_budget_min: float = Field(default=3.0, ge=0)
    consecutive_failures: int = Field(default=5, ge=1)  # Envoy consecutive_5xx 5
    base_ejection_s: float = Field(default=30.0, gt=0)  # Envoy base_ejection_time 30 s
    max_ejection_s: float = Field(default=300.0, gt=0)  # Envoy max_ejection_time 300 s
    probe_interval_s: float = Field(default=5.0, gt=0)
    scrape_interval_s: float = Field(default=0.5, gt=0)
    stale_after_s: float = Field(default=3.0, gt=0)
    ewma_alpha: float = Field(default=0.3, gt=0, le=1)
    max_body_bytes: int = Field(default=8 << 20, ge=1024)
    # Slow or oversized requests (wire.py, asgi.read_body): 408 past a time, 413/431 past a size.
    body_timeout_s: float = Field(default=30.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=60 * 1024, ge=1024)  # Envoy max_request_headers_kb 60
    # With no local pod able to take a request and no provider allowed to, the request waits
    # this long for one (a pod starting, coming back); at most ``max_held`` per model wait.
    hold_timeout_s: float = Field(default=120.0, ge=0)
    max_held: int = Field(default=256, ge=0)
    hold_retry_after_s: float = Field(default=10.0, gt=0)
    # Stored Responses (store: true) are kept this long after they were written, as OpenAI
    # keeps them 30 days; a conversation's state (earlier turns and the new input) may not grow
    # past responses_max_bytes of JSON (docs/responses-state.md).
    responses_ttl_s: float = Field(default=30 * 86400.0, gt=0)
    responses_max_bytes: int = Field(default=4 << 20, ge=1024)
    # Tool-call quality (state/tool_quality.py): a backend whose tool calls for a model were
    # valid (known function, JSON arguments its schema accepts) less than tool_call_min_validity
    # of the time, over at least tool_call_min_samples calls in the last tool_call_window_s,
    # gets no request with tools for tool_call_gate_s (times how often it was gated, at most
    # tool_call_max_gate_s). 0 turns the gate off; the calls are still checked and counted.
    tool_call_min_validity: float = Field(default=0.9, ge=0, le=1)
    tool_call_min_samples: int = Field(default=20, ge=1)
    tool_call_window_s: float = Field(default=300.0, gt=0)
    tool_call_gate_s: float = Field(default=60.0, gt=0)
    tool_call_max_gate_s: float = Field(default=600.0, gt=0)


class StoreConfig(SecretRef):
    """The shared state store: a Redis (or Valkey) server all router replicas use.

    ``url`` is ``redis://host:port/db`` or ``rediss://`` for TLS, without a password: the
    password comes from ``key``, ``key_file`` (a mounted Secret) or ``key_env``. Every call is
    bounded by ``timeout_s``; replicas exchange load, health and spend every
    ``sync_interval_s``.
    """

    url: str
    ca_file: Path | None = None
    timeout_s: float = Field(default=0.25, gt=0, le=10)
    sync_interval_s: float = Field(default=0.2, gt=0, le=5)
    # At start-up the router waits this long for the store, then refuses to start.
    startup_timeout_s: float = Field(default=15.0, ge=0)
    # A lease takes this share of a limit at a time (more: fewer store calls, coarser sharing).
    lease_fraction: float = Field(default=0.02, gt=0, le=0.5)
    key_prefix: str = Field(default="gptoss", pattern=r"^[A-Za-z0-9_.:-]{1,40}$")

    @model_validator(mode="after")
    def _usable_url(self) -> Self:
        try:
            parts = urlsplit(self.url)
            _ = parts.port  # raises on a port that is not a number in range
        except ValueError:
            raise ConfigError("store.url is not a URL (redis://host:port/db)") from None
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(
                f"store.url must start with redis:// or rediss://, not {parts.scheme}://"
            )
        if parts.password is not None or parts.username is not None:
            raise ConfigError(
                "store.url must not carry credentials; give the password as store.key_file "
                "or store.key_env"
            )
        if not parts.hostname:
            raise ConfigError("store.url names no host")
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            raise ConfigError(f"store.url: database must be a number, not {db!r}")
        return self

    def where(self) -> str:
        """Host, port and database, safe to log."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


DiscoveryMode = Literal["static", "kubernetes"]
