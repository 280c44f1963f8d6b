"""The routes that do not generate: models, health, readiness, metrics, spill, OpenAPI."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gptoss_router.config.models import ModelConfig
from gptoss_router.errors import RouterError
from gptoss_router.http.openapi import openapi_document
from gptoss_router.http.state import State
from gptoss_router.metrics import RouterMetrics
from gptoss_router.openai.error_bodies import error_body
from gptoss_router.routing.access import AppKeys, may_see
from gptoss_router.state.provider_limits import provider_of
from gptoss_router.state.store_health import StoreHealth

__all__ = ["info_routes", "model_card"]


def model_card(name: str, config: ModelConfig, created: int) -> dict[str, object]:
    """One /v1/models entry; a fine-tune or adapter names its base as ``parent``, as vLLM does
    for adapters."""
    card: dict[str, object] = {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "gptoss",
    }
    if config.parent is not None:
        card["parent"] = config.parent
    return card


def info_routes(keys: AppKeys, metrics: RouterMetrics) -> list[Route]:
    """Routes bound to ``keys`` (for /v1/models) and ``metrics``."""

    async def models(request: Request) -> Response:
        try:
            app = keys.identify(request.headers.get("authorization"), "/v1/models")
        except RouterError as err:
            return JSONResponse(error_body(err), status_code=err.status)
        state: State = request.app.state.router
        data = [
            model_card(name, config, state.started_at)
            for name, config in state.shared.backends.models.items()
            if may_see(app, config)
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        status, body = _readiness(getattr(request.app.state, "router", None))
        return JSONResponse(body, status_code=status)

    async def prometheus(request: Request) -> Response:
        _refresh_gauges(request.app.state.router, metrics)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def spill(request: Request) -> Response:
        state: State = request.app.state.router
        inflight = _spilled_inflight(metrics)
        return JSONResponse(
            {
                model: {
                    "inflight": inflight.get(model, 0),
                    "held": state.proxy.holds.held(model),
                }
                for model in state.shared.backends.models.names()
            }
        )

    async def openapi(request: Request) -> Response:
        state: State = request.app.state.router
        return JSONResponse(openapi_document(state.shared.backends.models.names()))

    return [
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/spill", spill, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


NO_MODELS_YET = (
    "none served yet: a model is served once a GptOssDeployment or router.yaml's models names "
    "it; until then an unknown model is answered 404 and /v1/models is empty"
)


def _readiness(state: State | None) -> tuple[int, dict[str, str]]:
    """``/readyz``: 503 only until the lifespan has built the router and its cluster discovery
    has read what it follows once. A router that serves no model then (a fresh install, before
    any GptOssDeployment) still answers every request correctly, so it is ready and says so; so
    is one whose store is down (``_store_word``)."""
    if state is None:
        return 503, {"status": "starting"}
    if not state.shared.backends.models.cluster_read:
        # Ready now, it would answer 404 for models the cluster serves but it has not read yet.
        return 503, {"status": "reading the cluster's GptOssDeployments"}
    body = {"status": "ready", "store": _store_word(state.store)}
    if not state.shared.backends.models.names():
        body["models"] = NO_MODELS_YET
    return 200, body


def _store_word(store: StoreHealth) -> str:
    """The store as ``/readyz`` tells it. A store outage does not make the router unready:
    requests flow, each limit as its on_store_loss says, and taking every replica out of its
    Service for a store outage would turn it into a full outage."""
    if not store.up:
        return f"unreachable ({store.reason}); limits per on_store_loss, load and health not shared"
    return "ok" if store.shared else "local"


def _spilled_inflight(metrics: RouterMetrics) -> dict[str, float]:
    """Spilled requests in flight per model, over the deployments they were counted for."""
    totals: dict[str, float] = {}
    for family in metrics.spilled_inflight.metric.collect():
        for sample in family.samples:
            model = sample.labels["model"]
            totals[model] = totals.get(model, 0.0) + sample.value
    return totals


def _refresh_gauges(state: State, metrics: RouterMetrics) -> None:
    backends = state.shared.backends
    local = {pod.url for pod in backends.pools}
    for why, keys in (
        ("spent", backends.limits.spent_until()),
        ("ejected", backends.health.ejected_until()),
    ):
        counts = dict.fromkeys(backends.provider_names(), 0) | {"local": 0}
        for key in keys:  # a provider's limits are kept per model: counted per model
            label = "local" if key in local else provider_of(key)
            if label in counts:
                counts[label] += 1
        for label, count in counts.items():
            metrics.benched.labels(label, why).set(count)
    gated = dict.fromkeys(backends.provider_names(), 0) | {"local": 0}
    for key, _model in backends.tool_quality.gated():
        label = "local" if key in local else key
        if label in gated:
            gated[label] += 1
    for label, count in gated.items():
        metrics.benched.labels(label, "tool_calls").set(count)
    for model, cfg in backends.models.items():
        pods = backends.pools.pods(model)
        views = [backends.pod_view(p, scraped=cfg.local.scrape) for p in pods]
        fresh = [v for v in views if v.fresh and not v.ejected]
        warming = sum(p.warming for p in pods)
        metrics.local_queue.labels(model, "waiting").set(sum(v.waiting for v in fresh))
        metrics.local_queue.labels(model, "running").set(sum(v.running for v in fresh))
        metrics.local_pods.labels(model, "ready").set(len(fresh))
        metrics.local_pods.labels(model, "ejected").set(sum(v.ejected for v in views))
        metrics.local_pods.labels(model, "stale").set(sum(not v.fresh for v in views) - warming)
        metrics.local_pods.labels(model, "warming").set(warming)
