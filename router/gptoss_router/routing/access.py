"""Who is calling and what they may do: app keys, allowed routes, per-request overrides.

Apps present ``Authorization: Bearer <key>``. Keys are compared by their SHA-256 digest, so the
router keeps no plain key in its lookup table. The router is closed by default: with no app
configured every caller gets 401, unless ``allow_anonymous`` lets callers without a known key
in as the app ``anonymous`` (for a router nobody else can reach); either is said at start-up.

Overrides, each within what the app may do (a request can only narrow):
    x-gptoss-route: local        local pods only, never a provider
    x-gptoss-route: hosted       providers only
    x-gptoss-max-price: 0.60     at most $0.60 per million output tokens
    x-gptoss-max-price: 0.15/0.60   input/output caps
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from gptoss_router.config.apps import ROUTES, AppConfig
from gptoss_router.config.models import ModelConfig
from gptoss_router.config.prices import PriceCap
from gptoss_router.errors import BadRequest, Forbidden, ModelNotFound, Unauthorized
from gptoss_router.routing.policy import Limits

__all__ = ["OPEN_APP", "App", "AppKeys", "limits_for", "may_see"]

ROUTE_HEADER = "x-gptoss-route"
PRICE_HEADER = "x-gptoss-max-price"


@dataclass(frozen=True, slots=True)
class App:
    """An authenticated caller."""

    name: str
    routes: frozenset[str]
    strip_reasoning: bool
    local: bool
    hosted: bool
    max_price: PriceCap
    namespaces: frozenset[str] | None = None


OPEN_APP = App("anonymous", ROUTES, False, True, True, PriceCap())


class AppKeys:
    """Finds the app behind a bearer key."""

    def __init__(self, apps: list[AppConfig], *, allow_anonymous: bool = False) -> None:
        self._allow_anonymous = allow_anonymous
        self._by_digest: dict[bytes, App] = {}
        for cfg in apps:
            assert cfg.key is not None  # AppConfig refuses apps without a key
            app = App(
                cfg.name,
                cfg.routes,
                cfg.strip_reasoning,
                cfg.local,
                cfg.hosted,
                cfg.max_price,
                cfg.namespaces,
            )
            self._by_digest[_digest(cfg.key.get_secret_value())] = app

    @property
    def anonymous(self) -> bool:
        """True when every caller is let in (``allow_anonymous``)."""
        return self._allow_anonymous

    @property
    def empty(self) -> bool:
        """True when no app is configured."""
        return not self._by_digest

    def identify(self, authorization: str | None, path: str) -> App:
        """The app presenting ``authorization``, allowed to call ``path``."""
        scheme, _, key = (authorization or "").partition(" ")
        app = self._by_digest.get(_digest(key.strip())) if scheme.lower() == "bearer" else None
        if app is None and self._allow_anonymous:
            return OPEN_APP
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized(
                "You didn't provide an API key. Provide your app's key in an Authorization "
                "header using Bearer auth (Authorization: Bearer YOUR_KEY)."
            )
        if app is None:
            raise Unauthorized("Incorrect API key provided.")
        if path not in app.routes:
            raise Forbidden(f"App {app.name} may not call {path}.")
        return app


def may_see(app: App, model: ModelConfig) -> bool:
    """Whether ``app`` may reach ``model`` at all: a model the cluster serves only in
    namespaces the app is not allowed is, for the app, a model that does not exist."""
    if app.namespaces is None or model.namespaces is None:
        return True
    return bool(app.namespaces & model.namespaces)


def limits_for(app: App, model: ModelConfig, headers: Mapping[str, str], name: str = "") -> Limits:
    """The routing limits of one request: model policy, narrowed by app, then by headers.

    Raises ModelNotFound when the app may not reach the model (``may_see``); ``name`` is the
    model's name for that message."""
    if not may_see(app, model):
        shown = f"'{name}' " if name else ""
        raise ModelNotFound(f"The model {shown}does not exist.", param="model")
    local, hosted = app.local, app.hosted
    route = headers.get(ROUTE_HEADER)
    if route == "local":
        hosted = False
    elif route == "hosted":
        local = False
    elif route is not None:
        raise BadRequest(f"{ROUTE_HEADER} must be 'local' or 'hosted'.", param=ROUTE_HEADER)
    if not (local or hosted):
        raise Forbidden(f"App {app.name} may not use {route} backends.")
    cap = model.spillover.max_price.tighten(app.max_price)
    if PRICE_HEADER in headers:
        cap = cap.tighten(_price_header(headers[PRICE_HEADER]))
    return Limits(
        local=local,
        hosted=hosted,
        providers=model.spillover.providers,
        max_price=cap,
        spill_when=model.spillover.when,
        latency_target_s=model.spillover.latency_target_s,
        max_queue_depth=model.local.max_queue_depth,
        max_inflight=model.local.max_inflight,
        namespaces=app.namespaces,
    )


def _price_header(value: str) -> PriceCap:
    parts = value.split("/")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or not all(0 <= n < math.inf for n in numbers):
        raise BadRequest(
            f"{PRICE_HEADER} must be '<output>' or '<input>/<output>' dollars per million tokens.",
            param=PRICE_HEADER,
        )
    if len(numbers) == 1:
        return PriceCap(output=numbers[0])
    return PriceCap(input=numbers[0], output=numbers[1])


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
