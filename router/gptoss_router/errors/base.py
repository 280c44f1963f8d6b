"""The roots of the router's errors, and the refusal a caller may retry after a while."""

from __future__ import annotations

import math

__all__ = ["ClientError", "ConfigError", "RetryLater", "RouterError", "retry_after_header"]


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, rounded up (a caller told to come back sooner than
    the reset would only be refused again), at least 1 and at most a day."""
    if not math.isfinite(seconds):
        return "86400"
    return str(min(86400, max(1, math.ceil(seconds))))


class RouterError(Exception):
    """Base of every error the router raises on purpose."""

    status = 500
    kind = "server_error"
    code: str | None = None
    model: str | None = None  # a served model the error is about, for metrics

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers (such as Retry-After) that go with this error."""
        return {}


class ClientError(RouterError):
    """The caller's request is at fault."""

    status = 400
    kind = "invalid_request_error"


class RetryLater(RouterError):
    """A refusal the caller may retry after ``retry_after`` seconds; ``model`` is the served
    model it is about (for metrics), ``headers`` any more headers to answer with. Mixed into a
    class that sets the status."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        model: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.model = model
        self._extra = headers or {}

    @property
    def headers(self) -> dict[str, str]:
        return {**self._extra, "retry-after": retry_after_header(self.retry_after)}

    def add_headers(self, headers: dict[str, str]) -> None:
        """More headers to answer with (those already set win)."""
        self._extra = {**headers, **self._extra}


class ConfigError(ValueError):
    """The router's configuration is unusable; raised once, at start-up."""
