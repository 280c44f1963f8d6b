"""The whole path for LoRA adapters: the real operator builds the vLLM pods of a fine-tune with
two adapters (each pod runs the vLLM simulator through the image's ``vllm`` command, so vLLM's
own flags are parsed), its status reports the served name and the adapters' ready pods, and the
real router, watching the cluster, serves each adapter from those pods. With
``spec.adapterLoading: Runtime`` the operator loads and unloads adapters on the running pod as
``spec.adapters`` changes, and the router follows what the pod lists in ``/v1/models``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from kubernetes import client
from live import eventually as eventually_async
from live import fleet, live_router, provider_entries
from tests.operator.conftest import Kubectl, gptoss_crd, kubectl  # noqa: F401 - fixtures
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION, manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.net import answers, free_port
from gptoss_localkube.podcontainer import RUNTIME_ANNOTATION
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.placement.sizing import size_spec
from gptoss_router.settings import RouterSettings

pytestmark = pytest.mark.usefixtures("gptoss_crd")

SPEC: dict[str, Any] = {
    "model": "gpt-oss-20b",
    "servedModelName": "support-v3",
    "gpu": {"product": "H100-80GB"},
    "adapters": [
        {"name": "sql", "uri": "hf://acme/gpt-oss-20b-sql-lora", "rank": 16},
        {"name": "legal", "uri": "hf://acme/gpt-oss-20b-legal-lora", "rank": 32},
    ],
    "pod": {"annotations": {RUNTIME_ANNOTATION: "vllm-sim", STARTUP_ANNOTATION: "0"}},
}


@pytest.fixture
def operator(cluster: ClusterInfo, tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "operator.log"
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    with operator_running(
        cluster.kubeconfig,
        log,
        "--liveness",
        liveness,
        GPTOSS_OPERATOR_RESYNC_SECONDS="3",
        GPTOSS_OPERATOR_ADAPTER_SYNC_SECONDS="0.5",
    ) as process:
        eventually(lambda: answers(liveness), timeout=60, what="the liveness endpoint")
        yield log
        assert process.poll() is None, log.read_text()[-3000:]


def status_of(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "support"
    )
    status: dict[str, Any] = body.get("status") or {}
    return status


async def test_an_operator_built_fine_tune_serves_each_adapter_through_the_router(
    operator: Path,
    cluster: ClusterInfo,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,  # noqa: F811 - the fixture imported above
) -> None:
    assert kubectl.apply(namespace, manifest("support", SPEC)).returncode == 0

    def adapters_ready() -> dict[str, Any] | None:
        status = status_of(api_client, namespace)
        counts = {a["name"]: a["readyReplicas"] for a in status.get("adapters") or []}
        return status if counts == {"sql": 1, "legal": 1} else None

    status = await asyncio.to_thread(
        eventually, adapters_ready, timeout=120, what="both adapters on a ready pod"
    )
    core = client.CoreV1Api(api_client)
    (pod,) = core.list_namespaced_pod(namespace, label_selector=status["selector"]).items
    url = f"http://{pod.status.pod_ip}:8000/v1/models"
    on_pod = (await asyncio.to_thread(httpx.get, url, timeout=5)).json()["data"]

    with fleet() as hosted:
        config = RouterSettings(
            discovery="kubernetes",
            namespace=namespace,
            kubeconfig=cluster.kubeconfig,
            allow_anonymous=True,
            providers=provider_entries(hosted, model="gpt-oss-20b"),
            tuning={"scrape_interval_s": 0.05, "stale_after_s": 1.0},
        )
        async with (
            live_router(config) as router,
            httpx.AsyncClient() as http,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=20
            ) as sdk,
        ):

            async def listed() -> list[Any] | None:
                data: list[Any] = (await http.get(f"{router.base_url}/v1/models")).json()["data"]
                return data if {"sql", "legal"} <= {m["id"] for m in data} else None

            models = await eventually_async(listed, what="adapters in /v1/models", within=30)

            async def answer(model: str) -> Any:
                try:
                    return await sdk.chat.completions.with_raw_response.create(
                        model=model, messages=[{"role": "user", "content": "Hello"}]
                    )
                except openai.APIStatusError:
                    return None  # the pod not scraped yet

            legal = await eventually_async(lambda: answer("legal"), what="legal", within=30)
            sql = await answer("sql")
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.create(
                    model="finance", messages=[{"role": "user", "content": "Hello"}]
                )
    assert status["servedModelName"] == "support-v3"
    assert [(m["id"], m["parent"]) for m in on_pod] == [
        ("support-v3", None),
        ("sql", "support-v3"),
        ("legal", "support-v3"),
    ]
    assert {m["id"]: m.get("parent") for m in models} == {
        "support-v3": "gpt-oss-20b",
        "sql": "support-v3",
        "legal": "support-v3",
    }
    assert legal.headers["x-gptoss-backend"] == "local" and legal.parse().model == "legal"
    assert sql is not None and sql.parse().model == "sql"


@pytest.fixture
def other_namespace(api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def ready_condition(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready":
            return dict(condition)
    return {}


def test_a_second_cr_serving_a_taken_fine_tune_name_is_refused_naming_the_field_and_owner(
    operator: Path,
    api_client: client.ApiClient,
    namespace: str,
    other_namespace: str,
    kubectl: Kubectl,  # noqa: F811 - the fixture imported above
) -> None:
    spec = {k: v for k, v in SPEC.items() if k != "adapters"}
    assert kubectl.apply(namespace, manifest("support", spec)).returncode == 0
    eventually(
        lambda: ready_condition(api_client, namespace, "support").get("reason") == "Serving",
        timeout=120,
        what="the first CR serving",
    )
    assert kubectl.apply(other_namespace, manifest("copy", spec)).returncode == 0
    refused = eventually(
        lambda: (
            c
            if (c := ready_condition(api_client, other_namespace, "copy")).get("reason")
            == "ServedNameTaken"
            else None
        ),
        timeout=60,
        what="the second CR refused",
    )
    assert refused["status"] == "False"
    assert refused["message"].startswith(
        f"spec.servedModelName 'support-v3' is already served by GptOssDeployment "
        f"{namespace}/support, created first"
    )
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        other_namespace, label_selector="gptoss.dev/deployment=copy"
    )
    assert pods.items == []
    assert ready_condition(api_client, namespace, "support")["reason"] == "Serving"


RUNTIME_SPEC: dict[str, Any] = {
    **SPEC,
    "adapterLoading": "Runtime",
    "serving": {"maxLoras": 2, "maxLoraRank": 32},
}
SQL, LEGAL = SPEC["adapters"]


def loaded_on_pods(api: client.ApiClient, namespace: str) -> dict[str, list[str]]:
    return {a["name"]: a.get("pods") or [] for a in status_of(api, namespace).get("adapters") or []}


async def test_a_runtime_cr_loads_and_unloads_adapters_on_its_running_pod_without_a_restart(
    operator: Path,
    cluster: ClusterInfo,
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,  # noqa: F811 - the fixture imported above
) -> None:
    def apply(*adapters: dict[str, Any]) -> None:
        body = manifest("support", {**RUNTIME_SPEC, "adapters": list(adapters)})
        assert kubectl.apply(namespace, body).returncode == 0

    def pods() -> list[tuple[str, str, int]]:
        core = client.CoreV1Api(api_client)
        found = core.list_namespaced_pod(namespace, label_selector="gptoss.dev/deployment=support")
        return [
            (
                p.metadata.name,
                p.metadata.uid,
                sum(c.restart_count for c in p.status.container_statuses or []),
            )
            for p in found.items
        ]

    apply(SQL)
    first = await asyncio.to_thread(
        eventually,
        lambda: (p := pods()) and loaded_on_pods(api_client, namespace) == {"sql": [p[0][0]]},
        timeout=120,
        what="sql loaded at run time on the ready pod",
    )
    assert first
    (before,) = pods()
    sizing = status_of(api_client, namespace)["sizing"]
    plain = size_spec(GptOssDeploymentSpec.model_validate({**SPEC, "adapters": None}))
    adapted = size_spec(GptOssDeploymentSpec.model_validate({**RUNTIME_SPEC, "adapters": [SQL]}))
    assert (sizing["maxLoras"], sizing["maxLoraRank"]) == (2, 32)
    assert sizing["adapterMemoryGiB"] == round(adapted.lora_gib, 2) > 0
    assert sizing["kvCacheGiB"] == round(adapted.kv_cache_gib, 2) < round(plain.kv_cache_gib, 2)
    assert sizing["maxFullLengthSequences"] < plain.max_full_length_sequences
    running = client.CoreV1Api(api_client).read_namespaced_pod(before[0], namespace)
    url = f"http://{running.status.pod_ip}:8000"

    async def on_pod() -> list[str]:
        async with httpx.AsyncClient() as http:
            data = (await http.get(f"{url}/v1/models", timeout=5)).json()["data"]
        return [m["id"] for m in data if m.get("parent")]

    with fleet() as hosted:
        config = RouterSettings(
            discovery="kubernetes",
            namespace=namespace,
            kubeconfig=cluster.kubeconfig,
            allow_anonymous=True,
            providers=provider_entries(hosted, model="gpt-oss-20b"),
            tuning={"scrape_interval_s": 0.05, "stale_after_s": 1.0},
        )
        async with (
            live_router(config) as router,
            openai.AsyncOpenAI(
                base_url=f"{router.base_url}/v1", api_key="unused", max_retries=0, timeout=20
            ) as sdk,
        ):

            async def answer(model: str) -> Any:
                try:
                    return await sdk.chat.completions.with_raw_response.create(
                        model=model, messages=[{"role": "user", "content": "Hello"}]
                    )
                except openai.APIStatusError:
                    return None  # not listed by the pod yet

            sql = await eventually_async(lambda: answer("sql"), what="sql", within=30)
            apply(SQL, LEGAL)
            await asyncio.to_thread(
                eventually,
                lambda: (
                    loaded_on_pods(api_client, namespace)
                    == {"sql": [before[0]], "legal": [before[0]]}
                ),
                timeout=60,
                what="legal loaded on the running pod",
            )
            legal = await eventually_async(lambda: answer("legal"), what="legal", within=30)
            added = await on_pod()
            during = pods()

            apply(SQL)
            await asyncio.to_thread(
                eventually,
                lambda: loaded_on_pods(api_client, namespace) == {"sql": [before[0]]},
                timeout=60,
                what="legal gone from status",
            )

            async def unloaded() -> list[str] | None:
                listed = await on_pod()
                return listed if "legal" not in listed else None

            removed = await eventually_async(unloaded, what="legal unloaded", within=30)
            async with httpx.AsyncClient() as http:
                gone = await http.post(
                    f"{router.base_url}/v1/chat/completions",
                    json={"model": "legal", "messages": [{"role": "user", "content": "Hello"}]},
                    timeout=20,
                )
            still = await answer("sql")
    after = pods()

    # A pod that starts later gets the adapters too.
    body = manifest("support", {**RUNTIME_SPEC, "adapters": [SQL], "replicas": 2})
    assert kubectl.apply(namespace, body).returncode == 0
    scaled = await asyncio.to_thread(
        eventually,
        lambda: (
            names
            if len(names := sorted(p[0] for p in pods())) == 2
            and loaded_on_pods(api_client, namespace) == {"sql": names}
            else None
        ),
        timeout=120,
        what="sql loaded on the second pod too",
    )
    assert before[0] in scaled
    assert sql.parse().model == "sql" and sql.headers["x-gptoss-backend"] == "local"
    assert legal.parse().model == "legal" and legal.headers["x-gptoss-backend"] == "local"
    assert added == ["sql", "legal"] and removed == ["sql"]
    assert during == [before] and after == [before]  # same pod, same UID, no restart
    assert before[2] == 0
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "The model 'legal' does not exist."
    assert gone.json()["error"]["code"] == "model_not_found"
    assert still is not None and still.parse().model == "sql"
