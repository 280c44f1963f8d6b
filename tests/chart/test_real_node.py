"""The chart on a real node: ``helm install`` with its defaults brings the operator (two replicas,
one leader), the routers (two, sharing the embedded store) and the store up as real containers
under a kubelet, with containerd and runc, beside the KWOK GPU nodes; the vLLM pods of a
GptOssDeployment stay on a KWOK node, run by the pod runtime as the simulator. This is the kind
e2e workflow's story, run here: the CR goes Ready, ``helm test`` passes, requests through the
router's Service (its ClusterIP, and ``kubectl port-forward``) are answered, a conversation
continues across the two routers, ``helm upgrade`` rolls the routers to new pods that serve, and
``helm uninstall`` leaves only the CRD.

The images are gptoss's own, built here with podman (``localkube/build-images.sh``); the store's
is Debian's redis-server (``localkube/build-node-images.sh``): no registry is reachable here.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.images import ensure_images
from gptoss_localkube.net import free_port
from gptoss_localkube.nodehost import RealNodeOptions
from gptoss_localkube.nodes import CATALOG
from gptoss_localkube.realnode import KWOK_POD_NETWORK, NODE_NAME, NODE_POD_CIDR
from gptoss_localkube.toolchain import Toolchain, ensure_node_toolchain
from tests.chart import kind_conversation, kind_smoke
from tests.chart.helm import CHART, Tool
from tests.waiting import eventually

NAMESPACE = "e2e"
RELEASE = "gptoss"
MODEL = "gpt-oss-20b"
CR: dict[str, Any] = {
    "apiVersion": "gptoss.dev/v1alpha1",
    "kind": "GptOssDeployment",
    "metadata": {"name": "chat-20b"},
    "spec": {
        "model": MODEL,
        "gpu": {"product": "H100-80GB", "count": 1},
        "replicas": 1,
        "pod": {
            "annotations": {
                "localkube.gptoss.dev/runtime": "vllm-sim",
                "localkube.gptoss.dev/startup-seconds": "3",
            }
        },
    },
}


def _image_values(ref: str, pull: str = "Never") -> dict[str, str]:
    repository, _, tag = ref.rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": pull}


@pytest.fixture(scope="module")
def node_cluster(toolchain: Toolchain) -> Iterator[tuple[ClusterInfo, dict[str, Any]]]:
    """A cluster with the real node (GPU nodes only among the fake ones, so the chart's pods,
    which tolerate no GPU taint, can only land on the real node), and the chart's values."""
    node = ensure_node_toolchain()
    images = ensure_images(["operator", "router"])
    options = RealNodeOptions(node, images=(node.store_image, *images.values()))
    catalog = tuple(spec for spec in CATALOG if spec.gpu is not None)
    values = {
        "operator": {
            "image": _image_values(images["operator"]),
            "watchNamespaces": [NAMESPACE],
            "resyncSeconds": 3,
        },
        "router": {
            "image": _image_values(images["router"]),
            "allowAnonymous": True,
            "config": {"models": {MODEL: {}}},
        },
        "store": {"embedded": {"image": _image_values(node.store_image)}},
    }
    with LocalCluster(toolchain, catalog=catalog, real_node=options) as info:
        yield info, values


@pytest.fixture(scope="module")
def kubectl(toolchain: Toolchain, node_cluster: tuple[ClusterInfo, dict[str, Any]]) -> Tool:
    return Tool(toolchain.kubectl, node_cluster[0].kubeconfig)


@pytest.fixture(scope="module")
def helm(toolchain: Toolchain, node_cluster: tuple[ClusterInfo, dict[str, Any]]) -> Tool:
    return Tool(toolchain.helm, node_cluster[0].kubeconfig)


def _pods(kubectl: Tool, selector: str) -> list[dict[str, Any]]:
    out = kubectl.ok("get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _router_url(kubectl: Tool) -> str:
    service = json.loads(
        kubectl.ok("get", "service", f"{RELEASE}-router", "-n", NAMESPACE, "-o", "json")
    )
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/v1"


def _what_the_cluster_saw(kubectl: Tool) -> str:
    parts = [
        kubectl("get", "pods,gptoss,events", "-n", NAMESPACE, "-o", "wide").stdout,
        kubectl("describe", "pods", "-n", NAMESPACE).stdout[-6000:],
    ]
    for component in ("operator", "router", "store"):
        parts.append(
            kubectl(
                "logs",
                "-n",
                NAMESPACE,
                "-l",
                f"app.kubernetes.io/component={component}",
                "--tail=40",
                "--all-containers",
            ).stdout
        )
    return "\n".join(parts)


def _router_pods(kubectl: Tool) -> list[dict[str, Any]]:
    return [
        pod
        for pod in _pods(
            kubectl, f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=router"
        )
        if not pod["metadata"].get("deletionTimestamp")
    ]


@contextmanager
def _port_forward(kubectl: Tool, target: str, port: int) -> Iterator[str]:
    """``kubectl port-forward`` to ``target``'s ``port`` on a free local port; its /v1 URL."""
    local = free_port()
    command = [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", "-n", NAMESPACE]
    command += ["port-forward", target, f"{local}:{port}"]
    forward = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        assert first.startswith("Forwarding from"), first + forward.stdout.read()
        yield f"http://127.0.0.1:{local}/v1"
    finally:
        forward.terminate()
        forward.wait(timeout=30)


def _tasks(info: ClusterInfo) -> list[str]:
    """Containers running in the real node's containerd."""
    socket = info.root / "node" / "containerd" / "containerd.sock"
    done = subprocess.run(
        ["ctr", "--address", str(socket), "-n", "k8s.io", "tasks", "list", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.split()


def test_the_chart_runs_on_a_real_node_and_serves_through_its_router(
    node_cluster: tuple[ClusterInfo, dict[str, Any]], kubectl: Tool, helm: Tool, tmp_path: Path
) -> None:
    info, values = node_cluster
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    kubectl.ok("create", "namespace", NAMESPACE)
    done = helm(
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(values_file),
        "--wait",
        "--timeout",
        "5m",
        timeout=330,
    )
    assert done.returncode == 0, done.stderr + _what_the_cluster_saw(kubectl)

    # The chart's defaults: two operators (one leads), two routers sharing the store.
    chart_pods = _pods(kubectl, f"app.kubernetes.io/instance={RELEASE}")
    counts: dict[str, int] = {}
    for pod in chart_pods:
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        counts[component] = counts.get(component, 0) + 1
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(NODE_POD_CIDR)
        assert _ready(pod), pod["metadata"]["name"]
        for status in pod["status"]["containerStatuses"]:
            assert status["containerID"].startswith("containerd://")
    assert counts == {"operator": 2, "router": 2, "store": 1}

    # A GptOssDeployment: the leading operator, in its container, reaches the API server
    # through the kubernetes Service; its vLLM pod runs on a KWOK GPU node as the simulator.
    kubectl.ok("apply", "-n", NAMESPACE, "-f", "-", stdin=yaml.safe_dump(CR))
    done = kubectl(
        "wait",
        "-n",
        NAMESPACE,
        f"gptossdeployment/{CR['metadata']['name']}",
        "--for=condition=Ready",
        "--timeout=3m",
        timeout=200,
    )
    assert done.returncode == 0, done.stderr + _what_the_cluster_saw(kubectl)
    (vllm,) = _pods(kubectl, f"gptoss.dev/deployment={CR['metadata']['name']}")
    assert vllm["spec"]["nodeName"].startswith("gpu-h100")
    assert ipaddress.ip_address(vllm["status"]["podIP"]) in ipaddress.ip_network(KWOK_POD_NETWORK)

    tested = helm("test", RELEASE, "--namespace", NAMESPACE, "--timeout", "2m", timeout=150)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Phase:          Succeeded" in tested.stdout

    # Requests through the router Service's ClusterIP (kube-proxy's rules), then through
    # kubectl port-forward (the API server, the kubelet and containerd), as the e2e does.
    kind_smoke.main(_router_url(kubectl), MODEL)
    with _port_forward(kubectl, f"service/{RELEASE}-router", 80) as local:
        kind_smoke.main(local, MODEL)

    # A conversation whose turns go to different routers, each reached through its own
    # ``kubectl port-forward pod/<name>`` as the e2e does: the second router finds the first
    # turn in the shared store (cluster DNS gave both the store's address); without it, the
    # second turn would be refused for an unknown previous_response_id.
    names = sorted(pod["metadata"]["name"] for pod in _router_pods(kubectl))
    assert len(names) == 2, names
    with (
        _port_forward(kubectl, f"pod/{names[0]}", 8080) as first,
        _port_forward(kubectl, f"pod/{names[1]}", 8080) as second,
    ):
        kind_conversation.continue_across(first, second, MODEL)

    # helm upgrade rolls the routers; the new ones serve.
    before = {pod["metadata"]["uid"] for pod in _router_pods(kubectl)}
    done = helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(values_file),
        "--set",
        "router.podAnnotations.gptoss-e2e/rolled=yes",
        "--wait",
        "--timeout",
        "3m",
        timeout=200,
    )
    assert done.returncode == 0, done.stderr + _what_the_cluster_saw(kubectl)

    def only_new_routers() -> set[str] | None:
        uids = {pod["metadata"]["uid"] for pod in _router_pods(kubectl)}
        return uids if len(uids) == 2 and not uids & before else None

    after = eventually(only_new_routers, timeout=120, what="two router pods, none of the old")
    assert not after & before
    kind_smoke.main(_router_url(kubectl), MODEL)

    # Uninstall: nothing of the release is left, only the CRD; the kubelet stopped every
    # container it ran.
    kubectl.ok(
        "delete",
        "-n",
        NAMESPACE,
        f"gptossdeployment/{CR['metadata']['name']}",
        "--wait",
        "--timeout=2m",
        timeout=150,
    )
    helm.ok("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", timeout=150)
    eventually(
        lambda: not kubectl.ok("get", "pods", "-n", NAMESPACE, "-o", "name").strip(),
        timeout=120,
        what="every pod of the namespace gone",
    )
    left = kubectl.ok(
        "get",
        "all,configmaps,secrets,roles,rolebindings,networkpolicies,pdb,leases",
        "-n",
        NAMESPACE,
        "-l",
        f"app.kubernetes.io/instance={RELEASE}",
        "-o",
        "name",
    )
    assert not left.strip(), left
    kubectl.ok("get", "crd", "gptossdeployments.gptoss.dev")
    eventually(lambda: not _tasks(info), timeout=60, what="no container left in containerd")
