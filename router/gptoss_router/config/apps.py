"""The apps allowed to call the router: their keys, routes, backends, prices and limits."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from gptoss_router.config.base import SecretRef, Strict
from gptoss_router.config.prices import PriceCap
from gptoss_router.errors import ConfigError

__all__ = ["ROUTES", "AppConfig", "AppLimits"]

ROUTES = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/models"})


class AppLimits(Strict):
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
