"""Fine-tunes and LoRA adapters end to end: GptOssDeployments on the local control plane, pods
that KWOK runs with vLLM simulators serving LoRA on their IPs, and the real router in front.

No operator runs: each test writes the CRs and the status the operator would, and creates the
pods with the labels and the ``gptoss.dev/adapters`` annotation the operator's template has.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import openai
import pytest
from kubernetes import client
from live import LiveRouter, eventually, fleet, live_router, provider_entries
from tests.operator.conftest import gptoss_crd, kubectl  # noqa: F401 - fixtures used here
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION
from tests.router.test_kube_discovery import until
from tests.task_stacks import pending_stacks

from gptoss_localkube.cluster import ClusterInfo
from gptoss_router.settings import RouterSettings
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.lora import LoraConfig, LoraModule
from gptoss_sim.reply import ReplyParams
from gptoss_sim.server import Running, running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

pytestmark = pytest.mark.usefixtures("gptoss_crd")

BASE = "gpt-oss-20b"
MESSAGES = [{"role": "user", "content": "Which model answers?"}]
TIMEOUT = 30
QUEUED_TIMEOUT = 120.0  # a request behind a queue of slow ones
KEYS = {"team-a": "sk-team-a-1111", "everyone": "sk-everyone-2222"}


@pytest.fixture
def other_namespace(api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def put_cr(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """A GptOssDeployment with the status the operator would write."""
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "GptOssDeployment"}
    full = {"model": BASE, "gpu": {"product": "H100-80GB"}, **spec}
    objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, {**body, "metadata": {"name": name}, "spec": full}
    )
    status = {"selector": f"gptoss.dev/deployment={name}"}
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}
    )


def patch_spillover(
    api: client.ApiClient, namespace: str, name: str, spill: dict[str, Any]
) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": {"spillover": spill}}
    )


def create_pod(
    api: client.ApiClient, namespace: str, owner: str, pod: str, adapters: str = ""
) -> None:
    annotations = {"gptoss.dev/adapters": adapters} if adapters else None
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=pod, labels={"gptoss.dev/deployment": owner}, annotations=annotations
        ),
        spec=client.V1PodSpec(
            node_selector={"kubernetes.io/hostname": "cpu-0"},
            containers=[client.V1Container(name="vllm", image="registry.invalid/vllm:1")],
        ),
    )
    client.CoreV1Api(api).create_namespaced_pod(namespace, body)


def ready_ip(api: client.ApiClient, namespace: str, pod: str) -> str | None:
    status = client.CoreV1Api(api).read_namespaced_pod(pod, namespace).status
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or ())
    return status.pod_ip if ready else None


async def running_pod(
    api: client.ApiClient, namespace: str, owner: str, pod: str, adapters: str = ""
) -> str:
    await asyncio.to_thread(create_pod, api, namespace, owner, pod, adapters)
    ip: str = await until(lambda: ready_ip(api, namespace, pod), what=f"{pod} to be Ready")
    return ip


def lora_sim(served: str, adapters: tuple[str, ...]) -> VllmSim:
    capacity = CapacityParams(startup_s=0, step_base_s=0.002, step_per_seq_s=0.0, max_num_seqs=64)
    lora = LoraConfig(
        enabled=bool(adapters),
        max_loras=max(1, len(adapters)),
        modules=tuple(LoraModule(name, f"acme/{name}-lora") for name in adapters),
    )
    return VllmSim(VllmConfig(model=served, capacity=capacity, lora=lora))


@contextmanager
def serving(sims: dict[str, VllmSim]) -> Iterator[dict[str, Running]]:
    """Each simulator on its pod's IP, port 8000; where each runs, by IP."""
    with ExitStack() as stack:
        yield {
            ip: stack.enter_context(running(sim, host=ip, port=8000)) for ip, sim in sims.items()
        }


def answered(sim: VllmSim) -> float:
    """Requests the simulator finished, whatever their model."""
    total = 0.0
    for reason in ("stop", "length"):
        labels = {"model_name": sim.config.model, "engine": "0", "finished_reason": reason}
        total += sim.registry.get_sample_value("vllm:request_success_total", labels) or 0.0
    return total


def settings(
    cluster: ClusterInfo,
    namespaces: list[str],
    providers: list[Any],
    tuning: dict[str, Any] | None = None,
    **extra: Any,
) -> RouterSettings:
    quick = {"scrape_interval_s": 0.05, "stale_after_s": 1.0, "first_byte_timeout_s": 5.0}
    return RouterSettings(
        discovery="kubernetes",
        namespaces=namespaces,
        kubeconfig=cluster.kubeconfig,
        providers=providers,
        tuning={**quick, **(tuning or {})},
        **extra,
    )


def sdk(base_url: str, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=TIMEOUT
    )


async def models_listed(base_url: str, names: set[str], key: str = "unused") -> list[Any]:
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}) as http:

        async def listed() -> list[Any] | None:
            data = (await http.get(f"{base_url}/v1/models")).json()["data"]
            return data if names <= {m["id"] for m in data} else None

        found: list[Any] = await eventually(listed, what=f"{sorted(names)} listed", within=30)
        return found


async def test_requests_for_each_adapter_land_only_on_pods_that_load_it(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str
) -> None:
    adapters = [
        {"name": "sql", "uri": "hf://acme/sql-lora", "rank": 16},
        {"name": "legal", "uri": "hf://acme/legal-lora", "rank": 16},
    ]
    await asyncio.to_thread(put_cr, api_client, namespace, "lora", {"adapters": adapters})
    # An older pod loads only sql; a newer one loads both (a rollout adding legal).
    old = await running_pod(api_client, namespace, "lora", "lora-old", "sql")
    new = await running_pod(api_client, namespace, "lora", "lora-new", "sql,legal")
    sims = {old: lora_sim(BASE, ("sql",)), new: lora_sim(BASE, ("sql", "legal"))}
    with fleet() as hosted, serving(sims):
        config = settings(
            cluster, [namespace], provider_entries(hosted, model=BASE), allow_anonymous=True
        )
        async with (
            live_router(config) as router,
            httpx.AsyncClient() as http,
            sdk(router.base_url) as openai_client,
        ):
            listed = await models_listed(router.base_url, {"sql", "legal"})

            async def both_pods_ready() -> bool:
                text = (await http.get(f"{router.base_url}/metrics")).text
                return 'gptoss_router_local_pods{model="sql",state="ready"} 2.0' in text

            await eventually(both_pods_ready, what="both sql pods ready", within=30)
            legal = [
                await openai_client.chat.completions.with_raw_response.create(
                    model="legal", messages=MESSAGES
                )
                for _ in range(8)
            ]
            legal_on_old, legal_on_new = answered(sims[old]), answered(sims[new])
            sql = [
                await openai_client.chat.completions.create(model="sql", messages=MESSAGES)
                for _ in range(8)
            ]
    parents = {m["id"]: m.get("parent") for m in listed}
    assert parents["sql"] == BASE and parents["legal"] == BASE and parents[BASE] is None
    assert all(r.headers["x-gptoss-backend"] == "local" for r in legal)
    assert {r.parse().model for r in legal} == {"legal"}
    assert (legal_on_old, legal_on_new) == (0.0, 8.0)
    assert {r.model for r in sql} == {"sql"}
    assert answered(sims[old]) + answered(sims[new]) == 16.0


async def test_a_fine_tune_is_held_then_refused_not_spilled_to_the_base_until_its_cr_opts_in(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str
) -> None:
    spec = {
        "source": {"uri": "pvc://checkpoints/support-v3"},
        "spillover": {"providers": ["groq"]},
    }
    await asyncio.to_thread(put_cr, api_client, namespace, "support", spec)
    with fleet() as hosted:
        config = settings(
            cluster,
            [namespace],
            provider_entries(hosted, model=BASE),
            allow_anonymous=True,
            tuning={"hold_timeout_s": 1.0, "hold_retry_after_s": 9},
        )
        async with live_router(config) as router, sdk(router.base_url) as openai_client:
            listed = await models_listed(router.base_url, {"support"})
            with pytest.raises(openai.APIStatusError) as refused:
                await openai_client.chat.completions.create(model="support", messages=MESSAGES)
            await asyncio.to_thread(
                patch_spillover,
                api_client,
                namespace,
                "support",
                {"providers": ["groq"], "acceptBaseModel": True},
            )

            async def spills() -> Any:
                try:
                    return await openai_client.chat.completions.with_raw_response.create(
                        model="support", messages=MESSAGES
                    )
                except openai.APIStatusError:
                    return None

            spilled = await eventually(spills, what="the opted-in fine-tune to spill", within=30)
    assert {m["id"]: m.get("parent") for m in listed}["support"] == BASE
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"] == "9"
    assert spilled.headers["x-gptoss-backend"] == "groq"
    # The base model answered, and says so.
    assert spilled.parse().model == BASE


async def test_an_app_allowed_one_namespace_cannot_reach_another_namespaces_fine_tune(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str, other_namespace: str
) -> None:
    spec = {"source": {"uri": "pvc://checkpoints/support-v3"}}
    await asyncio.to_thread(put_cr, api_client, other_namespace, "support", spec)
    ip = await running_pod(api_client, other_namespace, "support", "support-0")
    apps = [
        {"name": "team-a", "key": KEYS["team-a"], "namespaces": [namespace]},
        {"name": "everyone", "key": KEYS["everyone"]},
    ]
    with fleet() as hosted, serving({ip: lora_sim("support", ())}):
        config = settings(
            cluster, [namespace, other_namespace], provider_entries(hosted, model=BASE), apps=apps
        )
        async with (
            live_router(config) as router,
            sdk(router.base_url, KEYS["everyone"]) as everyone,
            sdk(router.base_url, KEYS["team-a"]) as team_a,
        ):
            await models_listed(router.base_url, {"support"}, KEYS["everyone"])
            served = await everyone.chat.completions.create(model="support", messages=MESSAGES)
            async with httpx.AsyncClient() as http:
                seen_by_a = (
                    await http.get(
                        f"{router.base_url}/v1/models",
                        headers={"authorization": f"Bearer {KEYS['team-a']}"},
                    )
                ).json()["data"]
            with pytest.raises(openai.NotFoundError) as hidden:
                await team_a.chat.completions.create(model="support", messages=MESSAGES)
    assert served.model == "support"
    assert "support" not in {m["id"] for m in seen_by_a}
    assert "The model 'support' does not exist." in str(hidden.value)


async def test_a_router_following_an_empty_namespace_is_ready_once_it_has_read_it(
    cluster: ClusterInfo, namespace: str
) -> None:
    config = settings(cluster, [namespace], [], allow_anonymous=True)
    async with live_router(config) as router, httpx.AsyncClient() as http:

        async def ready() -> Any:
            answer = await http.get(f"{router.base_url}/readyz")
            return answer.json() if answer.status_code == 200 else None

        body = await eventually(ready, what="the router to have read the cluster", within=30)
    assert body["models"].startswith("none served yet")


def slow_sim(served: str) -> VllmSim:
    """One sequence at a time, about half a second a reply: a few requests saturate it."""
    capacity = CapacityParams(startup_s=0, step_base_s=0.025, step_per_seq_s=0.0, max_num_seqs=1)
    reply = ReplyParams(reasoning_tokens={"low": 4, "medium": 8, "high": 8}, answer_tokens=12)
    return VllmSim(VllmConfig(model=served, capacity=capacity, reply=reply))


# Shown whatever model they name: a request refused before its model was read counts as
# "unknown", and these say what the router and the pod's engine hold now.
_WHATEVER_MODEL = ("vllm:num_requests", "gptoss_router_held", "gptoss_router_holds")


def _where(router: LiveRouter, sim: VllmSim, model: str) -> str:
    """What the router and the pod's engine say of ``model``'s requests, for a failure."""
    lines = [
        f"{sample.name}{sample.labels} {sample.value}"
        for registry in (router.registry, sim.registry)
        for family in registry.collect()
        for sample in family.samples
        if (
            model in sample.labels.values()
            or sample.name.startswith(_WHATEVER_MODEL)
            or "unknown" in sample.labels.values()
        )
        and not sample.name.endswith(("_bucket", "_created"))
    ]
    return "\n".join(lines)


async def while_saturated(router: LiveRouter, model: str, sim: VllmSim, server: Running) -> str:
    """The backend of one request sent while ``model``'s only pod is saturated as the router
    sees it (its scraped queue at the model's max_queue_depth or more)."""
    state = router.app.state
    backends = state.shared.backends
    # Nine requests queue one at a time on the slow pod; in a process busy with other threads
    # draining them can take longer than TIMEOUT, which is not what this test is about.
    async with openai.AsyncOpenAI(
        base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=QUEUED_TIMEOUT
    ) as client_:
        load = [
            asyncio.create_task(client_.chat.completions.create(model=model, messages=MESSAGES))
            for _ in range(8)
        ]

        async def saturated() -> bool:
            config = backends.models.get(model)
            pods = backends.pools.pods(model)
            return bool(
                config is not None
                and pods
                and pods[0].stats is not None
                and pods[0].stats.waiting >= config.local.max_queue_depth
            )

        await eventually(saturated, what=f"the router to see {model}'s pod saturated", within=30)
        probe = await client_.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES
        )
        # Looked at before the client's own timeout, so a hanging request is still where it hangs.
        _, hanging = await asyncio.wait(load, timeout=QUEUED_TIMEOUT - 15)
        failed = [repr(t.exception()) for t in load if t.done() and t.exception() is not None]
        failed += ["still waiting"] * len(hanging)
        if failed:
            # The test's own client runs on this loop too: its tasks say where a request waits.
            router_tasks = await pending_stacks(
                asyncio.get_running_loop(), ("gptoss_router", "uvicorn", "httpcore2")
            )
            sim_tasks = await pending_stacks(server.loop, ("gptoss_sim", "uvicorn"))
            for task in hanging:
                task.cancel()
            raise AssertionError(
                f"requests of the load failed: {failed}\n{_where(router, sim, model)}\n"
                f"router tasks:\n{router_tasks}\nsimulator tasks:\n{sim_tasks}"
            )
    return probe.headers["x-gptoss-backend"]


async def test_a_saturated_fine_tune_queues_on_its_pod_until_its_cr_accepts_the_base_model(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str
) -> None:
    spec = {
        "source": {"uri": "pvc://checkpoints/support-v3"},
        "spillover": {"providers": ["groq"], "when": ["Saturated"]},
    }
    await asyncio.to_thread(put_cr, api_client, namespace, "support", spec)
    ip = await running_pod(api_client, namespace, "support", "support-0")
    pod = slow_sim("support")
    with fleet() as hosted, serving({ip: pod}) as servers:
        # A queued request waits for its first byte behind the whole queue.
        config = settings(
            cluster,
            [namespace],
            provider_entries(hosted, model=BASE),
            {"first_byte_timeout_s": QUEUED_TIMEOUT},
            allow_anonymous=True,
        )
        async with live_router(config) as router:
            await models_listed(router.base_url, {"support"})
            await until_pod_ready(router.base_url, "support")
            kept = await while_saturated(router, "support", pod, servers[ip])
            await asyncio.to_thread(
                patch_spillover,
                api_client,
                namespace,
                "support",
                {"providers": ["groq"], "when": ["Saturated"], "acceptBaseModel": True},
            )
            models = router.app.state.shared.backends.models

            async def opted_in() -> bool:
                config = models.get("support")
                return config is not None and config.hosted_as == BASE

            await eventually(opted_in, what="the router to read acceptBaseModel", within=30)
            spilled = await while_saturated(router, "support", pod, servers[ip])
    assert kept == "local"
    assert spilled == "groq"


async def until_pod_ready(base_url: str, model: str) -> None:
    async with httpx.AsyncClient() as http:

        async def ready() -> bool:
            text = (await http.get(f"{base_url}/metrics")).text
            return f'gptoss_router_local_pods{{model="{model}",state="ready"}} 1.0' in text

        await eventually(ready, what=f"a ready {model} pod", within=30)
