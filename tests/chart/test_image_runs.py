"""The images, built here with podman on a base made from Debian packages, run as the chart runs
them: each container of a pod the chart renders (or the operator writes) is started with its own
command, env, mounted ConfigMap and Secret files, non-root user, read-only root file system and
dropped capabilities, and must pass its own probes.

The first test session on a machine builds the base and the images (a few minutes); later ones
reuse them from ~/.cache/gptoss until a Dockerfile, uv.lock, the code or a Debian package changes.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.images import Podman, write_volume_files
from gptoss_localkube.net import answers, free_port
from gptoss_operator.children.deployment import build_deployment
from gptoss_operator.reconciling.planning import plan, pod_extras
from gptoss_operator.settings import OperatorSettings
from tests.chart.containers import Running, pod_container
from tests.chart.helm import CHART, REPO, Tool, one, render
from tests.waiting import eventually

USER = "65532:65532"
STARTUP_ENV = {"name": "GPTOSS_SIM_STARTUP_SECONDS", "value": "1"}
SIM_SPEC = {
    "model": "gpt-oss-20b",
    "gpu": {"product": "H100-80GB"},
    "serving": {"env": [STARTUP_ENV]},
}


def _repository(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return repository, tag


def _ready(running: Running, probe: str = "readinessProbe", timeout: float = 60) -> None:
    url = running.probe(probe)
    eventually(lambda: answers(url), timeout=timeout, what=f"{running.name} {probe} {url}")


def _entrypoint(dockerfile: Path) -> list[str]:
    (line,) = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile.read_text(), flags=re.MULTILINE)
    loaded: list[str] = json.loads(line)
    return loaded


@pytest.mark.parametrize("name", ["operator", "router", "sim"])
def test_every_image_runs_its_dockerfiles_entrypoint_as_the_non_root_user(
    name: str, images: dict[str, str], podman: Podman
) -> None:
    config = podman.image_config(images[name])
    assert config["User"] == USER
    assert config["Entrypoint"] == _entrypoint(REPO / "docker" / f"{name}.Dockerfile")
    assert any(v.startswith("PATH=/opt/gptoss/bin:") for v in config["Env"])
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == f"gptoss-{name}"


def _vllm_pod(sim_image: str, model_spec: dict[str, Any]) -> dict[str, Any]:
    """The vLLM pod the operator would write for ``model_spec``, on the simulator image."""
    body = {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u", "generation": 1},
        "spec": model_spec,
    }
    settings = OperatorSettings()
    decided = plan(body, settings)
    assert decided.sizing is not None and decided.weights is not None
    deployment = build_deployment(
        decided.owner,
        decided.spec,
        decided.sizing,
        decided.weights,
        replicas=1,
        image=sim_image,
        extras=pod_extras(decided.spec),
        startup_timeout_seconds=settings.startup_timeout_seconds,
        shm_size=settings.shm_size,
    )
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    # The restricted Pod Security Standard, as the chart's own pods run.
    pod["securityContext"] = {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": True}
    pod["containers"][0]["securityContext"] |= {
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod


def test_the_simulator_image_serves_the_operators_vllm_command_line(
    images: dict[str, str], podman: Podman, tmp_path: Path
) -> None:
    pod = _vllm_pod(images["sim"], SIM_SPEC)
    assert pod["containers"][0]["command"] == ["vllm", "serve"]
    with pod_container(podman, pod, "vllm", tmp_path) as vllm:
        _ready(vllm, "startupProbe")
        _ready(vllm)
        models = httpx.get(vllm.url(8000, "/v1/models")).json()
        assert [m["id"] for m in models["data"]] == ["gpt-oss-20b"]
        reply = httpx.post(
            vllm.url(8000, "/v1/chat/completions"),
            json={
                "model": "gpt-oss-20b",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4,
            },
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["usage"]["completion_tokens"] >= 1


def test_the_router_image_is_ready_with_the_charts_config_and_serves_the_mounted_key_only(
    images: dict[str, str], podman: Podman, helm: Tool, tmp_path: Path
) -> None:
    """The chart's router pod (static discovery, no store, one app whose key is a mounted
    Secret file) in front of a vLLM pod on the simulator image, each in its own network
    namespace: ready, listing the model, and a chat completion reaches the vLLM pod."""
    vllm_pod = _vllm_pod(images["sim"], SIM_SPEC)
    with pod_container(podman, vllm_pod, "vllm", tmp_path / "vllm") as vllm:
        _ready(vllm, "startupProbe")
        repository, tag = _repository(images["router"])
        values = tmp_path / "values.yaml"
        pods = [f"http://{podman.address(vllm.name)}:8000"]
        router_values = {
            "replicas": 1,
            "image": {"repository": repository, "tag": tag},
            "discovery": {"mode": "static"},
            "keys": {"existingSecret": "gptoss-keys"},
            "config": {
                "models": {"gpt-oss-20b": {"local": {"pods": pods}}},
                "apps": [{"name": "support-bot", "secretKey": "app-support-bot"}],
            },
        }
        values.write_text(yaml.safe_dump({"store": {"mode": "none"}, "router": router_values}))
        docs = render(helm, values)
        pod = one(docs, "Deployment", "-router")["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == images["router"]
        config_map = one(docs, "ConfigMap", "-router")
        key = f"sk-{secrets.token_hex(16)}"
        with pod_container(
            podman,
            pod,
            "router",
            tmp_path / "router",
            config_maps={config_map["metadata"]["name"]: config_map["data"]},
            secrets={"gptoss-keys": {"app-support-bot": f"{key}\n"}},
        ) as router:
            _ready(router)
            assert answers(router.probe("livenessProbe"))
            models = router.url(8080, "/v1/models")
            authorized = {"Authorization": f"Bearer {key}"}
            listed = httpx.get(models, headers=authorized)
            assert [m["id"] for m in listed.json()["data"]] == ["gpt-oss-20b"]
            assert httpx.get(models).status_code == 401
            assert httpx.get(models, headers={"Authorization": "Bearer sk-no"}).status_code == 401
            reply = httpx.post(
                router.url(8080, "/v1/chat/completions"),
                headers={**authorized, "x-gptoss-route": "local"},
                json={
                    "model": "gpt-oss-20b",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 4,
                },
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["usage"]["completion_tokens"] >= 1

            script = "import os; print(os.getuid(), os.getgid())"
            who = podman.exec(router.name, "python", "-c", script)
            assert who.stdout.split() == ["65532", "65532"], who.stderr
            written = podman.exec(router.name, "python", "-c", "open('/opt/gptoss/x', 'w')")
            assert written.returncode != 0
            assert "Read-only file system" in written.stderr
            scratch = podman.exec(router.name, "python", "-c", "open('/tmp/x', 'w').write('ok')")
            assert scratch.returncode == 0, scratch.stderr
            key_file = "/etc/gptoss/keys/app-support-bot"
            mode = podman.exec(router.name, "stat", "-c", "%a %g", key_file)
            assert mode.stdout.split() == ["440", "65532"], mode.stderr
            assert key not in podman.logs(router.name)


def _service_account_dir(
    kubectl: Tool, cluster: ClusterInfo, account: str, namespace: str, root: Path, group: int
) -> Path:
    token = kubectl.ok("create", "token", account, "-n", namespace, "--duration=1h").strip()
    files = {
        "serviceaccount": {
            "token": (token, 0o640),
            "ca.crt": (cluster.ca_file.read_text(), 0o644),
            "namespace": (namespace, 0o644),
        }
    }
    return write_volume_files(files, root, group=group)["serviceaccount"]


def _get(kubectl: Tool, namespace: str, *what: str) -> dict[str, Any] | None:
    done = kubectl("get", *what, "-n", namespace, "-o", "json")
    loaded: dict[str, Any] | None = json.loads(done.stdout) if done.returncode == 0 else None
    return loaded


def test_the_operator_image_reconciles_with_its_mounted_token_and_its_vllm_pod_serves(
    images: dict[str, str],
    podman: Podman,
    cluster_helm: Tool,
    kubectl: Tool,
    cluster: ClusterInfo,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The chart installed into the local API server; its stored operator Deployment run as a
    container with the ServiceAccount token mounted where a kubelet mounts it; the operator takes
    the Lease, writes the children of a GptOssDeployment, and the vLLM pod it wrote runs on the
    simulator image and passes its probes."""
    repository, tag = _repository(images["operator"])
    release = f"g{uuid.uuid4().hex[:8]}"
    cluster_helm.ok(
        "install",
        release,
        str(CHART),
        "--namespace",
        namespace,
        f"--set=operator.image.repository={repository}",
        f"--set=operator.image.tag={tag}",
        # the container shares the host's network: every port it listens on is a free one
        f"--set=operator.livenessPort={free_port()}",
        f"--set=operator.metricsPort={free_port()}",
        f"--set=operator.vllmImages.nvidia={images['sim']}",
        f"--set=operator.watchNamespaces={{{namespace}}}",
        "--set=operator.resyncSeconds=3",
        "--set=store.mode=none",
        "--set=router.replicas=1",
    )
    try:
        stored = _get(kubectl, namespace, "deployment", f"{release}-gptoss-operator")
        assert stored is not None
        pod = stored["spec"]["template"]["spec"]
        group = pod["securityContext"]["fsGroup"]
        account = _service_account_dir(
            kubectl, cluster, pod["serviceAccountName"], namespace, tmp_path / "sa", group
        )
        host, port = cluster.server.removeprefix("https://").rsplit(":", 1)
        pod_name = f"{release}-gptoss-operator-{uuid.uuid4().hex[:5]}"
        with pod_container(
            podman,
            pod,
            "operator",
            tmp_path / "operator",
            fields={"metadata.name": pod_name, "metadata.namespace": namespace},
            own_network=False,
            service_account=account,
            api_server=(host, int(port)),
        ) as operator:
            _ready(operator, "startupProbe", timeout=90)
            lease = eventually(
                lambda: (
                    (_get(kubectl, namespace, "lease", f"{release}-gptoss-operator") or {})
                    .get("spec", {})
                    .get("holderIdentity")
                ),
                timeout=60,
                what="the operator's Lease",
            )
            assert lease == pod_name
            cr = yaml.safe_load((REPO / "crds" / "examples" / "gpt-oss-20b-h100.yaml").read_text())
            cr["spec"]["serving"] = {"env": [STARTUP_ENV]}
            kubectl.ok("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(cr))
            name = cr["metadata"]["name"]
            vllm = eventually(
                lambda: _get(kubectl, namespace, "deployment", f"{name}-vllm"),
                timeout=90,
                what="the vLLM Deployment written by the operator",
            )
            cr_status = eventually(
                lambda: (_get(kubectl, namespace, "gptossdeployment", name) or {}).get("status"),
                timeout=60,
                what="status written by the operator",
            )
            assert cr_status.get("observedGeneration") == 1
            assert "Forbidden" not in podman.logs(operator.name)
        vllm_pod = vllm["spec"]["template"]["spec"]
        assert vllm_pod["containers"][0]["image"] == images["sim"]
        with pod_container(podman, vllm_pod, "vllm", tmp_path / "vllm") as server:
            _ready(server, "startupProbe")
            _ready(server)
    finally:
        kubectl("delete", "gptossdeployments", "--all", "-n", namespace, "--wait=false")
        cluster_helm("uninstall", release, "--namespace", namespace)
