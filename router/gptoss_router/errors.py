"""The router's errors, each of which knows the OpenAI-shaped answer it becomes.

    RouterError                       anything the router raises on purpose
    ├── ClientError                   the caller's request is at fault (4xx)
    │   ├── BadRequest                400 invalid_request_error, names the parameter
    │   ├── Unauthorized              401 missing or unknown app key
    │   ├── Forbidden                 403 the app may not use this route or override
    │   ├── ModelNotFound             404 the model is not served here
    │   ├── NotFound                  404 no such response, model or path (for this app)
    │   ├── PreviousResponseNotFound  400 previous_response_not_found, as OpenAI answers it
    │   ├── MethodNotAllowed          405 the path exists, the method does not
    │   ├── Conflict                  409 a stored object changed under too many writers
    │   ├── SlowClient                408 the body did not arrive within the time limit
    │   ├── TooLarge                  413 the body is over the size limit
    │   ├── RateLimited               429 rate_limit_exceeded: requests or tokens per minute
    │   └── QuotaExceeded             429 insufficient_quota: an app's dollars per day or month
    ├── NoBackend                     503 nothing could take the request (carries the reason)
    │   └── ProvidersSpent            429 only rate-limited providers could; their reset
    ├── StoreUnavailable              503 a limit that fails closed cannot reach the store
    ├── NotHeld                       503 held as long as allowed, or too many held; Retry-After
    ├── ClientLeft                    the caller went away while its request was held
    └── UpstreamFailed                the last attempt failed; status and Retry-After to pass on
    ConfigError (ValueError)          the configuration cannot be used (raised at start-up)

Only ``envelopes.error_body`` turns these into JSON; the request path catches ``RouterError``
once, at its top.
"""

from __future__ import annotations

import math

__all__ = [
    "BadRequest",
    "ClientError",
    "ClientLeft",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "MethodNotAllowed",
    "ModelNotFound",
    "NoBackend",
    "NotFound",
    "NotHeld",
    "PreviousResponseNotFound",
    "ProvidersSpent",
    "QuotaExceeded",
    "RateLimited",
    "RouterError",
    "SlowClient",
    "StoreUnavailable",
    "TooLarge",
    "Unauthorized",
    "UpstreamFailed",
]


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


class BadRequest(ClientError):
    """A parameter is missing, of the wrong type or has an unsupported value."""

    code = "invalid_value"


class Unauthorized(ClientError):
    """No app key, or one the router does not know."""

    status = 401
    kind = "authentication_error"
    code = "invalid_api_key"


class Forbidden(ClientError):
    """The app is known but may not do this."""

    status = 403
    kind = "permission_error"
    code = "forbidden"


class ModelNotFound(ClientError):
    """The requested model is neither served locally nor allowed to spill anywhere."""

    status = 404
    code = "model_not_found"


class NotFound(ClientError):
    """Nothing at this path, or no such object for this app (another app's ids included)."""

    status = 404
    code = None


class PreviousResponseNotFound(BadRequest):
    """``previous_response_id`` names no response this app stored (OpenAI answers 400)."""

    code = "previous_response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
        )


class MethodNotAllowed(ClientError):
    """The path exists but not with this method; ``allow`` lists the methods it has."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {"allow": self.allow}


class Conflict(ClientError):
    """A stored object (a conversation, a background response) kept changing under other
    writers while this request tried to change it; retrying succeeds."""

    status = 409
    code = "conflict"

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": "1"}


class SlowClient(ClientError):
    """The request body arrived too slowly."""

    status = 408
    code = "request_timeout"

    @property
    def headers(self) -> dict[str, str]:
        # The rest of the body may still come: it must not be read as the next request.
        return {"connection": "close"}


class TooLarge(SlowClient):
    """The request body is larger than the router accepts."""

    status = 413
    code = "request_too_large"


class _RetryLater(ClientError):
    """A refusal the caller may retry after ``retry_after`` seconds, with extra headers."""

    status = 429

    def __init__(
        self, message: str, *, retry_after: float, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self._extra = headers or {}

    @property
    def headers(self) -> dict[str, str]:
        return {**self._extra, "retry-after": str(max(1, math.ceil(self.retry_after)))}


class RateLimited(_RetryLater):
    """An app is over its requests or tokens per minute (``kind`` is ``requests``/``tokens``,
    as OpenAI's own 429s say)."""

    code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retry_after: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, headers=headers)
        self.kind = kind


class QuotaExceeded(_RetryLater):
    """An app has spent its dollars for the day or the month."""

    kind = "insufficient_quota"
    code = "insufficient_quota"


class NoBackend(RouterError):
    """Every candidate was excluded before any attempt (ejected, spent, over the price cap)."""

    status = 503
    kind = "service_unavailable"
    code = "no_backend"


class ProvidersSpent(NoBackend):
    """Only providers that said they are out of quota could take the request, and the first
    of them is not back in time; answered as a provider's own 429 would be."""

    status = 429
    kind = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, model: str, retry_after: float) -> None:
        super().__init__(message)
        self.model = model
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}


class NotHeld(RouterError):
    """No local pod took a held request in time, or the model already holds all it may."""

    status = 503
    kind = "service_unavailable"
    code = "no_capacity"

    def __init__(self, message: str, *, model: str, retry_after: float) -> None:
        super().__init__(message)
        self.model = model
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(max(1, round(self.retry_after)))}


class ClientLeft(RouterError):
    """The caller disconnected while its request was held; nobody reads the answer."""

    status = 499
    kind = "client_closed_request"

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class UpstreamFailed(RouterError):
    """Every attempt failed; the last failure decides the status passed on to the caller."""

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
        return {"retry-after": str(max(1, round(self.retry_after)))}


class StoreUnavailable(RouterError):
    """The shared store cannot be reached and a limit of the caller's app fails closed."""

    status = 503
    kind = "service_unavailable"
    code = "store_unavailable"

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": "1"}


class ConfigError(ValueError):
    """The router's configuration is unusable; raised once, at start-up."""
