"""Settings, read once at start-up from a YAML file and the environment, then injected.

The file gives the structure (models, providers, apps); ``GPTOSS_ROUTER_*`` variables override
it, nested with ``__`` (``GPTOSS_ROUTER_TUNING__IDLE_TIMEOUT_S=30``). Keys never appear in the
file in production: use ``key_file`` (a mounted Secret) or ``key_env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gptoss_router.config.apps import AppConfig
from gptoss_router.config.models import ModelConfig
from gptoss_router.config.providers import ProviderConfig
from gptoss_router.config.store import StoreConfig
from gptoss_router.config.tuning import Tuning
from gptoss_router.errors import ConfigError

__all__ = ["RouterSettings", "load_settings"]

DiscoveryMode = Literal["static", "kubernetes"]


class RouterSettings(BaseSettings):
    """Everything the router needs to run; build it with ``load_settings`` or directly in tests."""

    model_config = SettingsConfigDict(
        env_prefix="GPTOSS_ROUTER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    host: str = "0.0.0.0"  # noqa: S104 - a server inside a pod listens on every interface
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"
    # "kubernetes": local pods and spillover policies from GptOssDeployments in ``namespace``
    # and ``namespaces`` (neither: every namespace), with credentials from ``kubeconfig``, or
    # the pod's service account when that is unset inside a cluster.
    discovery: DiscoveryMode = "static"
    namespace: str | None = None
    namespaces: list[str] = []
    kubeconfig: Path | None = None
    models: dict[str, ModelConfig] = {}
    providers: list[ProviderConfig] = []
    apps: list[AppConfig] = []
    # With no apps the router refuses every caller (401) unless this is set.
    allow_anonymous: bool = False
    # None: state lives in this process (a single replica); with several replicas, a store.
    store: StoreConfig | None = None
    tuning: Tuning = Tuning()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the values handed in (which come from the file).
        return env_settings, init_settings

    @model_validator(mode="after")
    def _consistent(self) -> RouterSettings:
        apps = [a.name for a in self.apps]
        if len(apps) != len(set(apps)):
            raise ConfigError("app names must be unique")
        names = [p.name for p in self.providers]
        if len(names) != len(set(names)):
            raise ConfigError("provider names must be unique")
        for model, cfg in self.models.items():
            unknown = (cfg.spillover.providers or frozenset()) - set(names)
            if unknown:
                raise ConfigError(
                    f"model {model}: spillover names unknown providers {sorted(unknown)}"
                )
        return self

    def watched_namespaces(self) -> list[str]:
        """Namespaces cluster discovery follows; empty means every namespace."""
        named = [self.namespace] if self.namespace else []
        return list(dict.fromkeys([*named, *self.namespaces]))

    def provider(self, name: str) -> ProviderConfig:
        """The provider called ``name``."""
        return next(p for p in self.providers if p.name == name)


def load_settings(path: Path | None = None) -> RouterSettings:
    """Read the YAML file at ``path`` (if any), overlay the environment, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict | None):
            raise ConfigError(f"{path} must hold a mapping at the top level")
        data = loaded or {}
    try:
        return RouterSettings(**data)
    except ValidationError as err:
        # Without the inputs: they may hold keys.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors(include_input=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
