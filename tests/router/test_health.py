"""Liveness and readiness: a router is ready once its lifespan has built it and it has read the
cluster it follows once, whether or not it serves a model yet, so a fresh install (no
GptOssDeployment yet) passes its readiness probe, ``helm install --wait`` and ``helm test``,
while it answers an unknown model with 404. Before that first read it is not ready: a new
replica in a rollout would answer 404 for models the cluster serves."""

from __future__ import annotations

from pathlib import Path

import httpx
from router_fakes import MODEL, Upstreams, running_router, settings

from gptoss_router.http.app import create_app
from gptoss_router.settings import RouterSettings

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _serving_nothing() -> RouterSettings:
    return RouterSettings(models={}, providers=[], allow_anonymous=True)  # type: ignore[arg-type]


async def test_a_router_that_serves_no_model_yet_is_ready_and_says_so() -> None:
    async with running_router(_serving_nothing(), Upstreams()) as client:
        ready = await client.get("/readyz")
        models = await client.get("/v1/models")
        chat = await client.post("/v1/chat/completions", json=CHAT)
        alive = await client.get("/healthz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["models"].startswith("none served yet")
    assert body["store"] == "local"
    assert models.status_code == 200 and models.json()["data"] == []
    assert chat.status_code == 404 and chat.json()["error"]["param"] == "model"
    assert alive.status_code == 200


async def test_a_router_that_serves_a_model_is_ready_without_a_remark_on_models() -> None:
    async with running_router(settings(), Upstreams()) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "store": "local"}


async def test_a_router_whose_lifespan_has_not_built_it_yet_is_not_ready() -> None:
    app = create_app(_serving_nothing())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "starting"}


async def test_a_router_that_has_not_read_its_cluster_yet_is_not_ready(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    unreachable = _serving_nothing().model_copy(
        update={"discovery": "kubernetes", "kubeconfig": kubeconfig, "namespaces": ["ml"]}
    )
    async with running_router(unreachable, Upstreams()) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "reading the cluster's GptOssDeployments"}
    assert alive.status_code == 200
