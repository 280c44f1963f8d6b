"""Cluster discovery against the local control plane, with the official openai SDK in front.

No operator runs: each test writes a GptOssDeployment and its status itself, creates a pod with
the selector's label (KWOK makes it Running and Ready with a loopback IP) and serves a vLLM
simulator on that IP. The router must find the pod, serve from it, drop it when it is deleted
and then follow the deployment's spillover block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
from kubernetes import client
from live import LiveRouter, eventually, fleet, live_router, provider_entries
from tests.operator.conftest import gptoss_crd, kubectl  # noqa: F401 - fixtures used here
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION

from gptoss_localkube.cluster import ClusterInfo
from gptoss_router.settings import RouterSettings
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.server import running
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

pytestmark = pytest.mark.usefixtures("gptoss_crd")

MODEL = "gpt-oss-120b"
NAME = "big"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


async def until(probe: Callable[[], object], *, what: str, within: float = 60.0) -> Any:
    """The first truthy ``probe()``, run off the loop (the router shares it), within a deadline."""
    try:
        async with asyncio.timeout(within):
            while True:
                found = await asyncio.to_thread(probe)
                if found:
                    return found
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {within}s") from None


def deploy(api: client.ApiClient, namespace: str, spillover: dict[str, Any] | None) -> None:
    """A GptOssDeployment with the status the operator would write."""
    spec: dict[str, Any] = {"model": MODEL, "gpu": {"product": "H100-80GB"}}
    if spillover is not None:
        spec["spillover"] = spillover
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "GptOssDeployment"}
    objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, {**body, "metadata": {"name": NAME}, "spec": spec}
    )
    status = {
        "selector": f"gptoss.dev/deployment={NAME}",
        "endpoint": f"http://{NAME}.{namespace}.svc:8000/v1",
    }
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, NAME, {"status": status}
    )


def create_pod(api: client.ApiClient, namespace: str) -> None:
    """A pod of the deployment, on a CPU node."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"{NAME}-0", labels={"gptoss.dev/deployment": NAME}),
        spec=client.V1PodSpec(
            node_selector={"kubernetes.io/hostname": "cpu-0"},
            containers=[client.V1Container(name="vllm", image="registry.invalid/vllm:1")],
        ),
    )
    client.CoreV1Api(api).create_namespaced_pod(namespace, pod)


def ready_ip(api: client.ApiClient, namespace: str) -> str | None:
    """The pod's IP once KWOK reports it Ready."""
    status = client.CoreV1Api(api).read_namespaced_pod(f"{NAME}-0", namespace).status
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or ())
    return status.pod_ip if ready else None


async def running_pod(api: client.ApiClient, namespace: str) -> str:
    await asyncio.to_thread(create_pod, api, namespace)
    ip: str = await until(lambda: ready_ip(api, namespace), what="the pod to be Ready")
    return ip


@contextmanager
def vllm_on(ip: str) -> Iterator[None]:
    capacity = CapacityParams(startup_s=0, step_base_s=0.002, step_per_seq_s=0.0, max_num_seqs=64)
    with running(VllmSim(VllmConfig(model=MODEL, capacity=capacity)), host=ip, port=8000):
        yield


def settings_for(
    cluster: ClusterInfo,
    namespace: str,
    providers: list[Any],
    tuning: dict[str, Any] | None = None,
) -> RouterSettings:
    return RouterSettings(
        discovery="kubernetes",
        allow_anonymous=True,
        namespace=namespace,
        kubeconfig=cluster.kubeconfig,
        providers=providers,
        tuning={
            "scrape_interval_s": 0.05,
            "stale_after_s": 1.0,
            "first_byte_timeout_s": 5.0,
            **(tuning or {}),
        },
    )  # type: ignore[arg-type]


def ready_pods(router: LiveRouter) -> float:
    sample = {"model": MODEL, "state": "ready"}
    return router.registry.get_sample_value("gptoss_router_local_pods", sample) or 0.0


async def pods_seen(router: LiveRouter, count: int) -> None:
    """Wait until the router counts ``count`` ready pods (its /metrics refreshes the gauge)."""
    async with httpx.AsyncClient(base_url=router.base_url) as http:

        async def seen() -> bool:
            await http.get("/metrics")
            return ready_pods(router) == count

        await eventually(seen, what=f"the router to count {count} ready pods", within=60)


def sdk(router: LiveRouter) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=20
    )


def delete_pod(api: client.ApiClient, namespace: str) -> None:
    client.CoreV1Api(api).delete_namespaced_pod(f"{NAME}-0", namespace, grace_period_seconds=0)


async def test_a_ready_pod_serves_and_once_scaled_down_its_model_spills_as_the_cr_allows(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str
) -> None:
    spillover = {"providers": ["groq"], "when": ["ScaledToZero"]}
    await asyncio.to_thread(deploy, api_client, namespace, spillover)
    ip = await running_pod(api_client, namespace)
    with fleet() as sims, vllm_on(ip):
        config = settings_for(cluster, namespace, provider_entries(sims))
        async with live_router(config) as router, sdk(router) as openai_client:
            await pods_seen(router, 1)
            local = await openai_client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES
            )
            await asyncio.to_thread(delete_pod, api_client, namespace)
            await pods_seen(router, 0)
            spilled = await openai_client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES
            )
    assert local.headers["x-gptoss-backend"] == "local"
    assert local.parse().model == MODEL and local.parse().choices[0].message.content
    assert spilled.headers["x-gptoss-backend"] == "groq"
    assert spilled.parse().model == MODEL


async def test_without_a_spillover_block_a_model_at_zero_holds_requests_until_a_pod_is_ready(
    cluster: ClusterInfo, api_client: client.ApiClient, namespace: str
) -> None:
    await asyncio.to_thread(deploy, api_client, namespace, None)
    with fleet() as sims:
        tuning = {"max_held": 1, "hold_timeout_s": 50.0, "hold_retry_after_s": 7}
        config = settings_for(cluster, namespace, provider_entries(sims), tuning)
        async with (
            live_router(config) as router,
            httpx.AsyncClient() as http,
            sdk(router) as openai_client,
        ):

            async def served_and_held() -> tuple[bool, float]:
                known = (await http.get(f"{router.base_url}/v1/models")).json()["data"]
                spill = (await http.get(f"{router.base_url}/spill")).json()
                return bool(known), spill.get(MODEL, {}).get("held", 0)

            async def known() -> bool:
                return (await served_and_held())[0]

            async def one_held() -> bool:
                return (await served_and_held())[1] == 1

            await eventually(known, what="discovery of the model", within=30)
            held = asyncio.create_task(
                openai_client.chat.completions.with_raw_response.create(
                    model=MODEL, messages=MESSAGES
                )
            )
            await eventually(one_held, what="the first request being held", within=10)
            with pytest.raises(openai.APIStatusError) as refused:
                await openai_client.chat.completions.create(model=MODEL, messages=MESSAGES)
            ip = await running_pod(api_client, namespace)
            with vllm_on(ip):
                answered = await asyncio.wait_for(held, 40)
            still_held = (await served_and_held())[1]
    assert answered.headers["x-gptoss-backend"] == "local"
    assert answered.parse().choices[0].message.content and still_held == 0
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"] == "7"
    assert (refused.value.type, refused.value.code) == ("service_unavailable", "no_capacity")
