"""Secrets: with known provider and app keys, every kind of answer the router gives (served,
failed over, refused, rate limited, held, cut mid-stream, unauthorized) and everything it
exposes (logs at every level, error bodies, headers, metrics, its information routes) is
scanned for them. Every unknown app key gets the same 401, with no hint of how near it came;
a missing one is told it is missing, as OpenAI does."""

from __future__ import annotations

import logging

import httpx
import pytest
from live import KEYS, fleet, live_router, router_settings

pytestmark = pytest.mark.timeout(60)
APP_KEY = "app-live-secret-777"
OTHER_APP_KEY = "app-live-secret-888"
MODEL = "gpt-oss-120b"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
QUIET = {"scrape_interval_s": 30.0, "stale_after_s": 60.0, "hold_timeout_s": 0.2}


def seen(response: httpx.Response) -> str:
    return f"{response.status_code} {dict(response.headers)} {response.text}"


async def put_faults(http: httpx.AsyncClient, base_url: str, *rules: str) -> None:
    (await http.put(f"{base_url}/_sim/faults", json=list(rules))).raise_for_status()


async def test_no_key_appears_in_any_answer_log_or_metric_in_any_scenario(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    apps = [{"name": "web", "key": APP_KEY}, {"name": "batch", "key": OTHER_APP_KEY}]
    texts: list[str] = []
    with fleet() as sims:
        config = router_settings(sims, apps=apps, tuning=QUIET)
        async with live_router(config) as router, httpx.AsyncClient(timeout=20) as http:
            url = f"{router.base_url}/v1/chat/completions"
            me = {"authorization": f"Bearer {APP_KEY}"}

            async def ask(**extra: object) -> httpx.Response:
                response = await http.post(url, json={**CHAT, **extra}, headers=me)
                texts.append(seen(response))
                return response

            served = await ask()
            streamed = await ask(stream=True)
            await put_faults(http, sims.local.base_url, "status=500")
            failed_over = await ask()
            await put_faults(http, sims.local.base_url, "disconnect_after=2")
            cut = await ask(stream=True)
            await put_faults(http, sims.local.base_url, "status=500")
            for name, sim in sims.providers.items():
                fault = "status=429,retry_after=1" if name == "groq" else "status=401"
                await put_faults(http, sim.base_url, fault)
            refused = await ask()
            for sim in sims.providers.values():
                await put_faults(http, sim.base_url, "status=400")
            rejected = await ask()
            router.app.state.shared.backends.pools.replace(MODEL, [], served_model=MODEL)
            held = await http.post(url, json=CHAT, headers={**me, "x-gptoss-route": "local"})
            texts.append(seen(held))
            wrong = await http.post(url, json=CHAT, headers={"authorization": "Bearer nope"})
            missing = await http.post(url, json=CHAT)
            near = await http.post(url, json=CHAT, headers={"authorization": f"Bearer {APP_KEY}x"})
            texts += [seen(wrong), seen(missing), seen(near)]
            for path in ("/metrics", "/spill", "/v1/models", "/openapi.json", "/readyz"):
                texts.append(seen(await http.get(f"{router.base_url}{path}", headers=me)))
    assert [r.status_code for r in (served, streamed, failed_over, cut)] == [200] * 4
    assert failed_over.headers["x-gptoss-backend"] in KEYS and '"error"' in cut.text
    assert refused.status_code >= 500 and 400 <= rejected.status_code < 500
    assert held.status_code == 503 and "retry-after" in held.headers
    assert wrong.status_code == missing.status_code == near.status_code == 401
    assert wrong.json() == near.json() and wrong.json()["error"]["code"] == "invalid_api_key"
    assert (
        missing.json()["error"]["code"] == "invalid_api_key" != missing.json()["error"]["message"]
    )
    assert caplog.records and len(texts) > 10
    everything = "\n".join([*texts, caplog.text, *(r.getMessage() for r in caplog.records)])
    for secret in [APP_KEY, OTHER_APP_KEY, *KEYS.values()]:
        assert secret not in everything
