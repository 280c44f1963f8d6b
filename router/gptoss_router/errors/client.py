"""What the router answers when the caller's request is at fault (4xx)."""

from __future__ import annotations

from gptoss_router.errors.base import ClientError, RetryLater

__all__ = [
    "BadRequest",
    "Conflict",
    "ConversationLocked",
    "Forbidden",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "PreviousResponseNotFound",
    "QuotaExceeded",
    "RateLimited",
    "SlowClient",
    "TooLarge",
    "Unauthorized",
]


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


class ConversationLocked(BadRequest):
    """Another turn of the conversation is running (OpenAI answers 400 with this code)."""

    code = "conversation_locked"

    def __init__(self) -> None:
        super().__init__(
            "Another process is currently operating on this conversation. Please retry in a "
            "few seconds.",
            param="conversation",
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


class RateLimited(RetryLater, ClientError):
    """An app is over its requests or tokens per minute (``kind`` is ``requests``/``tokens``,
    as OpenAI's own 429s say)."""

    status = 429
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


class QuotaExceeded(RetryLater, ClientError):
    """An app has spent its dollars for the day or the month."""

    status = 429
    kind = "insufficient_quota"
    code = "insufficient_quota"
