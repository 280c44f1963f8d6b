"""What the router answers when it cannot serve a request it accepted (5xx, and the providers'
own 429 passed on)."""

from __future__ import annotations

from gptoss_router.errors.base import RetryLater, RouterError, retry_after_header

__all__ = [
    "ClientLeft",
    "NoBackend",
    "NotHeld",
    "ProvidersSpent",
    "StoreUnavailable",
    "UpstreamFailed",
]


class NoBackend(RouterError):
    """Every candidate was excluded before any attempt (ejected, spent, over the price cap)."""

    status = 503
    kind = "service_unavailable"
    code = "no_backend"


class ProvidersSpent(RetryLater, NoBackend):
    """Only providers that said they are out of quota could take the request, and the first
    of them is not back in time; answered as a provider's own 429 would be, with its reset."""

    status = 429
    kind = "rate_limit_error"
    code = "rate_limit_exceeded"


class NotHeld(RetryLater):
    """No local pod took a held request in time, or the model already holds all it may."""

    status = 503
    kind = "service_unavailable"
    code = "no_capacity"


class ClientLeft(RouterError):
    """The caller disconnected while its request was held; nobody reads the answer."""

    status = 499
    kind = "client_closed_request"

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class UpstreamFailed(RouterError):
    """Every attempt failed; the last failure decides the status passed on to the caller,
    with the upstream's Retry-After when it gave one."""

    kind = "upstream_error"
    code = "upstream_unavailable"

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        if status == 429:
            self.kind, self.code = "rate_limit_error", "rate_limit_exceeded"
        elif status == 504:
            self.kind, self.code = "timeout_error", "upstream_timeout"

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": retry_after_header(self.retry_after)}


class StoreUnavailable(RouterError):
    """The shared store cannot be reached and a limit of the caller's app fails closed."""

    status = 503
    kind = "service_unavailable"
    code = "store_unavailable"

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": "1"}
