"""What the shared-state tests share: real router processes on one real Redis, their
configuration (apps, limits, providers, the store), clients that record what each request saw,
and probes to wait on.

Every router is ``python -m gptoss_router --config <file>`` (``router_processes.py``); the
simulators (vLLM pods, Groq, Fireworks, Together) run in the test's process, so the tests count
what reached them. Secrets (the store's password, app and provider keys) reach the routers only
as environment variables named by ``key_env``; ``started_routers`` checks that none was logged.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import redis
from live import Fleet, eventually, provider_entries
from router_processes import RouterProcess, router_processes

from gptoss_localkube.redis_server import RedisServer

MODEL = "gpt-oss-120b"
STORE_KEY_ENV = "GPTOSS_TEST_STORE_KEY"
SYNC_INTERVAL_S = 0.1
WINDOW_S = 60.0  # the app limits' sliding window (routing/admission.py)
QUESTION = [{"role": "user", "content": "How many replicas share this limit?"}]
LOCAL = {"x-gptoss-route": "local"}  # local pods only
HOSTED = {"x-gptoss-route": "hosted"}  # providers only


# -- configuration ---------------------------------------------------------------------------


@dataclass
class Keys:
    """Every secret of a test, by the environment variable that carries it to the routers."""

    env: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> str:
        self.env[name] = value
        return name

    def app(self, name: str) -> str:
        return self.env[_app_env(name)]


def _app_env(name: str) -> str:
    return f"GPTOSS_TEST_APP_{name.upper().replace('-', '_')}_KEY"


def app(keys: Keys, name: str, **limits: Any) -> dict[str, Any]:
    """An app entry whose key comes from the environment."""
    env = keys.add(_app_env(name), f"sk-{name}-{secrets.token_urlsafe(12)}")
    return {"name": name, "key_env": env, "limits": limits}


def router_config(
    sims: Fleet,
    keys: Keys,
    *,
    store: RedisServer | None,
    apps: Sequence[dict[str, Any]] = (),
    pods: Sequence[str] | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    store_options: Mapping[str, Any] | None = None,
    allow_anonymous: bool = False,
    local_price: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Any]:
    """One router's configuration: the fleet's pods and providers, ``apps``, and the store."""
    providers = []
    for entry in provider_entries(sims, model=MODEL, prices=prices):
        secret = entry.pop("key")
        providers.append({**entry, "key_env": keys.add(f"GPTOSS_TEST_{entry['name']}_KEY", secret)})
    config: dict[str, Any] = {
        "models": {
            MODEL: {
                "local": {
                    "pods": list(pods or [sims.local.base_url]),
                    "scrape": True,
                    "price": {"input": local_price[0], "output": local_price[1]},
                },
            }
        },
        "providers": providers,
        "apps": list(apps),
        "allow_anonymous": allow_anonymous,
        "tuning": {
            "first_byte_timeout_s": 5.0,
            "idle_timeout_s": 5.0,
            "scrape_interval_s": 0.05,
            "stale_after_s": 1.0,
        },
    }
    if store is not None:
        keys.add(STORE_KEY_ENV, store.password)
        config["store"] = {
            "url": store.url,
            "key_env": STORE_KEY_ENV,
            "sync_interval_s": SYNC_INTERVAL_S,
            **(store_options or {}),
        }
    return config


# -- clients ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request as the SDK saw it."""

    router: int
    status: int  # 0: no answer (timeout, connection error)
    kind: str  # the SDK's class for it: "ok", "RateLimitError", "APITimeoutError", ...
    code: str | None
    headers: httpx.Headers
    started: float
    ended: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend: str | None = None


async def ask(
    client: openai.AsyncOpenAI,
    router: int,
    *,
    max_tokens: int = 16,
    headers: Mapping[str, str] | None = None,
) -> Outcome:
    """One chat completion; refusals and failures come back as outcomes, not exceptions."""
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=QUESTION, max_tokens=max_tokens, extra_headers=headers
        )
    except openai.APIStatusError as err:
        return Outcome(
            router,
            err.status_code,
            type(err).__name__,
            err.code,
            err.response.headers,
            started,
            time.monotonic(),
        )
    except openai.APIConnectionError as err:
        return Outcome(
            router, 0, type(err).__name__, None, httpx.Headers(), started, time.monotonic()
        )
    completion = raw.parse()
    usage = completion.usage
    assert usage is not None
    return Outcome(
        router,
        raw.status_code,
        "ok",
        None,
        raw.headers,
        started,
        time.monotonic(),
        usage.prompt_tokens,
        usage.completion_tokens,
        raw.headers.get("x-gptoss-backend"),
    )


async def clients(
    stack: AsyncExitStack, routers: Sequence[RouterProcess], key: str, *, within: float = 10.0
) -> list[openai.AsyncOpenAI]:
    """One SDK client per router for the app with ``key``; the SDK does not retry."""
    return [
        await stack.enter_async_context(
            openai.AsyncOpenAI(
                base_url=r.openai_base_url, api_key=key, max_retries=0, timeout=within
            )
        )
        for r in routers
    ]


async def wait_for(probe: Callable[[], object], *, what: str, within: float) -> Any:
    """``eventually`` for a blocking probe (HTTP to the routers, Redis), run off the loop."""

    async def probing() -> object:
        return await asyncio.to_thread(probe)

    return await eventually(probing, what=what, within=within)


def pods_scraped(routers: Sequence[RouterProcess], count: int = 1) -> Callable[[], bool]:
    """Whether every router has read ``count`` pods' queues (only then are they candidates)."""
    ready = {"model": MODEL, "state": "ready"}
    return lambda: all((r.metric("gptoss_router_local_pods", ready) or 0) >= count for r in routers)


def store_state(router: RouterProcess) -> tuple[str, float | None]:
    """What ``/readyz`` says of the store, and ``gptoss_router_store_up``."""
    _, body = router.readyz()
    return str(body.get("store", "")), router.metric("gptoss_router_store_up")


def store_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, password=server.password)


def synced_since(store: redis.Redis, replicas: int) -> Callable[[float], bool]:
    """Whether all ``replicas`` have synced (published and read back) after wall time ``t``."""

    def check(t: float) -> bool:
        seen = store.zrange("gptoss:replicas", 0, -1, withscores=True)
        return len(seen) == replicas and all(score > t * 1000 for _, score in seen)

    return check


@contextmanager
def started_routers(
    configs: Sequence[dict[str, Any]], tmp_path: Path, keys: Keys
) -> Iterator[list[RouterProcess]]:
    with router_processes(configs, tmp_path, secrets=keys.env) as routers:
        yield routers
    for router in routers:
        for secret in keys.env.values():
            assert secret not in router.log(), f"{router.name} logged a secret"


def sliding_allowance(limit: int, elapsed_s: float) -> int:
    """How many units past ``limit`` a sliding window may admit over ``elapsed_s``: if the
    minute turns meanwhile, the previous window's count weighs less as it decays, at most
    ``limit * elapsed / window`` (state/store.py, ``sliding_take``)."""
    return math.ceil(limit * elapsed_s / WINDOW_S)
