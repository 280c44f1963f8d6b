"""What every part of the router's configuration shares, and how a secret is given.

``Strict`` models reject unknown keys and are frozen. A ``SecretRef`` holds a ``SecretStr``
given inline, from a mounted Secret file or from a named environment variable; it is resolved
once, when the configuration is validated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from gptoss_router.errors import ConfigError

__all__ = ["SecretRef", "Strict"]


class Strict(BaseModel):
    """A configuration model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
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
