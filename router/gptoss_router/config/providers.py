"""The hosted providers in the router's configuration: dialect, endpoint, models and prices."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from gptoss_router.config.base import SecretRef, Strict
from gptoss_router.config.prices import Price

__all__ = ["ProviderConfig", "ProviderKind", "ProviderModel"]


class ProviderKind(StrEnum):
    """Dialects the router knows (docs/sources.md, Providers); ``openai`` is any compatible API."""

    VLLM = "vllm"
    GROQ = "groq"
    FIREWORKS = "fireworks"
    TOGETHER = "together"
    CEREBRAS = "cerebras"
    OPENAI = "openai"


class ProviderModel(Strict):
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
