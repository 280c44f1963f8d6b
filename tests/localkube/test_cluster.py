"""The local control plane behaves like a real cluster with GPU nodes.

Covered: node readiness and GPU inventory, GPU scheduling onto the right product, the
scheduler's FailedScheduling event when no node has enough GPUs, garbage collection of owned
objects, CEL validation in CRDs, loopback pod IPs a process can listen on, and a clean stop.
"""

from __future__ import annotations

import http.server
import ipaddress
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gptoss_localkube.cluster import LocalCluster
from gptoss_localkube.nodes import CATALOG
from gptoss_localkube.toolchain import Toolchain
from tests.waiting import eventually

H100 = "NVIDIA-H100-80GB-HBM3"
GPU_TOLERATION = client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def _gpu_pod_template(gpus: int, product: str | None) -> client.V1PodTemplateSpec:
    selector = {"nvidia.com/gpu.product": product} if product else None
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "gpu-probe"}),
        spec=client.V1PodSpec(
            node_selector=selector,
            tolerations=[GPU_TOLERATION],
            containers=[
                client.V1Container(
                    name="main",
                    image="registry.invalid/gpu-probe:1",
                    resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": str(gpus)}),
                )
            ],
        ),
    )


def _deployment(name: str, gpus: int, product: str | None) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "gpu-probe"}),
            template=_gpu_pod_template(gpus, product),
        ),
    )


def _pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(namespace).items)


def _condition(pod: client.V1Pod, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in pod.status.conditions or [])


def test_every_catalog_node_is_ready_and_reports_its_gpus(api_client: client.ApiClient) -> None:
    nodes = {n.metadata.name: n for n in client.CoreV1Api(api_client).list_node().items}
    assert set(nodes) == {spec.name for spec in CATALOG}
    for spec in CATALOG:
        node = nodes[spec.name]
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", spec.name
        if spec.gpu is None:
            assert not any(k.endswith("/gpu") for k in node.status.allocatable)
            continue
        assert node.status.allocatable[spec.gpu.resource] == str(spec.gpu_count)
        labels = node.metadata.labels
        product_label = (
            "nvidia.com/gpu.product" if spec.gpu.vendor == "nvidia" else "amd.com/gpu.product-name"
        )
        assert labels[product_label] == spec.gpu.product


def test_a_pod_asking_for_one_h100_runs_on_an_h100_node_and_becomes_ready(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("one-h100", 1, H100))

    def ready_pod() -> client.V1Pod | None:
        pods = [p for p in _pods(core, namespace) if _condition(p, "Ready")]
        return pods[0] if pods else None

    pod = eventually(ready_pod, timeout=60, what="a Ready pod")
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["nvidia.com/gpu.product"] == H100
    assert pod.status.phase == "Running"
    deployment = eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("one-h100", namespace)).status.ready_replicas
            and d
        ),
        timeout=60,
        what="deployment readyReplicas",
    )
    assert deployment.status.ready_replicas == 1


def test_asking_for_more_gpus_than_any_node_has_leaves_the_pod_pending_with_failed_scheduling(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    most = max(spec.gpu_count for spec in CATALOG)
    apps.create_namespaced_deployment(namespace, _deployment("too-many", most + 1, None))

    def failed_scheduling() -> list[Any]:
        events = core.list_namespaced_event(namespace).items
        return [e for e in events if e.reason == "FailedScheduling"]

    events = eventually(failed_scheduling, timeout=60, what="a FailedScheduling event")
    assert "Insufficient nvidia.com/gpu" in events[0].message
    pods = _pods(core, namespace)
    assert pods and all(p.status.phase == "Pending" and not p.spec.node_name for p in pods)


def test_deleting_an_owner_deletes_what_it_owns(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="owned", owner_references=[reference])
        ),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def owned_is_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    assert eventually(owned_is_gone, timeout=60, what="garbage collection of the owned object")


def _cel_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "min": {"type": "integer"},
                                        "max": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.min <= self.max",
                                            "message": "min must not exceed max",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_a_cel_rule_in_a_crd_rejects_a_bad_object_with_the_rule_message(
    api_client: client.ApiClient, namespace: str
) -> None:
    group = f"{namespace}.localkube.test"
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(_cel_crd(group))

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(f"widgets.{group}")
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(established, timeout=30, what="CRD Established")
    custom = client.CustomObjectsApi(api_client)

    def widget(low: int, high: int) -> dict[str, Any]:
        return {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": f"w-{low}-{high}"},
            "spec": {"min": low, "max": high},
        }

    try:
        custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget(1, 2))
        with pytest.raises(ApiException) as rejected:
            custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget(3, 2))
        assert rejected.value.status == 422
        assert "min must not exceed max" in str(rejected.value.body)
    finally:
        extensions.delete_custom_resource_definition(f"widgets.{group}")


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.server.server_address[0]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def serve_on() -> Iterator[Any]:
    servers: list[http.server.HTTPServer] = []

    def start(ip: str) -> int:
        server = http.server.HTTPServer((ip, 0), _Hello)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_process_listening_on_a_pod_ip_answers_through_that_ip(
    api_client: client.ApiClient, namespace: str, serve_on: Any
) -> None:
    core = client.CoreV1Api(api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1PodSpec(
            node_selector={"kubernetes.io/hostname": "cpu-0"},
            containers=[client.V1Container(name="web", image="registry.invalid/web:1")],
        ),
    )
    core.create_namespaced_pod(namespace, pod)
    ip = eventually(
        lambda: core.read_namespaced_pod("web", namespace).status.pod_ip,
        timeout=60,
        what="a pod IP",
    )
    cpu_node = core.read_node("cpu-0")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(cpu_node.spec.pod_cidr)
    port = serve_on(ip)
    response = httpx.get(f"http://{ip}:{port}/", timeout=5)
    assert response.text == f"hello from {ip}"


def test_two_clusters_run_side_by_side_and_stopping_one_leaves_no_process_behind(
    toolchain: Toolchain, api_client: client.ApiClient
) -> None:
    second = LocalCluster(toolchain, pod_network="127.254.0.0/16")
    with second as info:
        pids = second.supervisor.pids()
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        root = info.root
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not root.exists()
    # The session's own cluster was not disturbed.
    assert client.CoreV1Api(api_client).list_node().items
