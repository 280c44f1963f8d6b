"""The shared state store in the router's configuration: where it is, how to reach it safely.

Every router replica uses the same Redis (or Valkey) server; its password never appears in the
URL, only as a secret (``SecretRef``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from gptoss_router.config.base import SecretRef
from gptoss_router.errors import ConfigError

__all__ = ["StoreConfig"]


class StoreConfig(SecretRef):
    """The shared state store: a Redis (or Valkey) server all router replicas use.

    ``url`` is ``redis://host:port/db`` or ``rediss://`` for TLS, without a password: the
    password comes from ``key``, ``key_file`` (a mounted Secret) or ``key_env``, and is that of
    ``username`` (an ACL user, ``state/redis_acl.py``) when set, of the ``default`` user
    otherwise. Every call is
    bounded by ``timeout_s``; replicas exchange load, health and spend every
    ``sync_interval_s``.
    """

    url: str
    # The Sentinel-monitored primary of this name is the store; url is then a Sentinel's
    # (a Service in front of the sentinels, usually on port 26379).
    sentinel_master: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    username: str | None = Field(default=None, pattern=r"^[!-~]{1,128}$")
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
        where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
        if self.sentinel_master is not None:
            return f"the primary {self.sentinel_master} of the Sentinel at {where}"
        return where
