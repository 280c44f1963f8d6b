"""The router's errors, each of which knows the OpenAI-shaped answer it becomes.

    RouterError                       anything the router raises on purpose
    ├── ClientError                   the caller's request is at fault (4xx)
    │   ├── BadRequest                400 invalid_request_error, names the parameter
    │   ├── Unauthorized              401 missing or unknown app key
    │   ├── Forbidden                 403 the app may not use this route or override
    │   ├── ModelNotFound             404 the model is not served here
    │   ├── NotFound                  404 no such response, model or path (for this app)
    │   ├── PreviousResponseNotFound  400 previous_response_not_found, as OpenAI answers it
    │   ├── ConversationLocked        400 conversation_locked: another turn of it is running
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

The roots (and ``RetryLater``, mixed into every refusal that carries a Retry-After) are in
``base``, the caller's faults in ``client``, the router's own in ``serving``. Only
``openai.error_bodies.error_body`` turns these into JSON; the request path catches
``RouterError`` once, at its top.
"""

from gptoss_router.errors.base import (
    ClientError,
    ConfigError,
    RetryLater,
    RouterError,
    retry_after_header,
)
from gptoss_router.errors.client import (
    BadRequest,
    Conflict,
    ConversationLocked,
    Forbidden,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
    PreviousResponseNotFound,
    QuotaExceeded,
    RateLimited,
    SlowClient,
    TooLarge,
    Unauthorized,
)
from gptoss_router.errors.serving import (
    ClientLeft,
    NoBackend,
    NotHeld,
    ProvidersSpent,
    StoreUnavailable,
    UpstreamFailed,
)

__all__ = [
    "BadRequest",
    "ClientError",
    "ClientLeft",
    "ConfigError",
    "Conflict",
    "ConversationLocked",
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
    "RetryLater",
    "RouterError",
    "SlowClient",
    "StoreUnavailable",
    "TooLarge",
    "Unauthorized",
    "UpstreamFailed",
    "retry_after_header",
]
