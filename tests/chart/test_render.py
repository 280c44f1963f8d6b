"""The chart offline: lint, render every CI scenario, the values schema, the CRD copy, secure
pod defaults, the router's configuration as the router itself reads it, and the dashboard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from gptoss_router.config.apps import AppConfig
from gptoss_router.config.models import LocalPoolConfig, ModelConfig, SpilloverConfig
from gptoss_router.config.providers import ProviderConfig
from gptoss_router.config.tuning import Tuning
from gptoss_router.settings import RouterSettings
from tests.chart.helm import CHART, CI_VALUES, REPO, Tool, find, one, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def test_ci_scenarios_exist() -> None:
    names = {p.name for p in CI_VALUES}
    assert {"default-values.yaml", "namespaced-values.yaml", "full-values.yaml"} <= names


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_helm_lint_is_clean_in_strict_mode(helm: Tool, values: Path) -> None:
    out = helm.ok("lint", str(CHART), "--strict", "--values", str(values))
    problems = [line for line in out.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
    assert problems == []
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_every_ci_scenario_renders_the_operator_and_the_router(helm: Tool, values: Path) -> None:
    docs = render(helm, values)
    operator = one(docs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 2
    assert operator["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    one(docs, "Deployment", "-router")
    one(docs, "Service", "-router")
    one(docs, "ConfigMap", "-router")
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "gptoss", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def _schema_error(helm: Tool, *sets: str) -> str:
    done = helm("template", "gptoss", str(CHART), *(a for s in sets for a in ("--set", s)))
    assert done.returncode != 0, f"{sets} was accepted"
    return done.stderr


def test_a_misspelt_key_is_rejected_by_the_schema_naming_it(helm: Tool) -> None:
    err = _schema_error(helm, "router.replicaCount=3")
    assert "values don't meet the specifications of the schema" in err
    assert "additional properties 'replicaCount' not allowed" in err


def test_a_misspelt_nested_key_is_rejected_too(helm: Tool) -> None:
    err = _schema_error(helm, "router.config.tuning.max_attempt=3")
    assert "additional properties 'max_attempt' not allowed" in err


def test_a_value_of_the_wrong_type_is_rejected_by_the_schema(helm: Tool) -> None:
    err = _schema_error(helm, "operator.resyncSeconds=soon")
    assert "/operator/resyncSeconds" in err
    assert "got string, want number" in err


def test_an_inline_provider_key_is_not_accepted(helm: Tool) -> None:
    err = _schema_error(
        helm,
        "router.config.providers[0].name=groq",
        "router.config.providers[0].base_url=https://api.groq.com/openai/v1",
        "router.config.providers[0].models.x.id=y",
        "router.config.providers[0].models.x.price.input=1",
        "router.config.providers[0].models.x.price.output=1",
        "router.config.providers[0].key=sk-secret",
    )
    assert "additional properties 'key' not allowed" in err


def _objects(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every object schema under ``node`` with its JSON path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append((path or "/", node))
        for key, value in node.items():
            found += _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{path}/{i}")
    return found


def test_every_object_in_the_schema_forbids_unknown_keys() -> None:
    """Fixed-shape objects say additionalProperties: false; maps give a schema for values."""
    loose = []
    for path, node in _objects(SCHEMA):
        extra = node.get("additionalProperties")
        if "properties" in node and extra is not False:
            loose.append(path)
        if "properties" not in node and not isinstance(extra, dict):
            loose.append(path)
    assert loose == []
    assert len(_objects(SCHEMA)) > 50


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _props(*path: str) -> set[str]:
    node: dict[str, Any] = SCHEMA["properties"]["router"]["properties"]["config"]
    for key in path:
        node = node[key]
    return set(node["properties"])


@pytest.mark.parametrize(
    ("path", "model", "secret"),
    [
        (("properties", "tuning"), Tuning, False),
        (("properties", "providers", "items"), ProviderConfig, True),
        (("properties", "apps", "items"), AppConfig, True),
        (("properties", "models", "additionalProperties"), ModelConfig, False),
        (
            ("properties", "models", "additionalProperties", "properties", "local"),
            LocalPoolConfig,
            False,
        ),
        (
            ("properties", "models", "additionalProperties", "properties", "spillover"),
            SpilloverConfig,
            False,
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_the_schema_of_router_config_has_the_router_keys_exactly(
    path: tuple[str, ...], model: type[BaseModel], secret: bool
) -> None:
    """Keys come from a mounted Secret: the schema swaps key, key_file, key_env for secretKey."""
    expected = _fields(model)
    if secret:
        expected = expected - {"key", "key_file", "key_env"} | {"secretKey"}
    assert _props(*path) == expected


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_the_rendered_router_config_is_one_the_router_accepts(
    helm: Tool, values: Path, tmp_path: Path
) -> None:
    config_map = one(render(helm, values), "ConfigMap", "-router")
    config = yaml.safe_load(config_map["data"]["router.yaml"])
    mounted = "/etc/gptoss/keys/"
    for entry in [*config["providers"], *config["apps"]]:
        assert entry["key_file"].startswith(mounted)
        stand_in = tmp_path / entry["key_file"].removeprefix(mounted)
        stand_in.write_text("test-key\n")
        entry["key_file"] = str(stand_in)
    settings = RouterSettings(**config)
    assert settings.port == 8080
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside a pod


def test_provider_keys_come_from_the_existing_secret_mounted_read_only(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "full-values.yaml")
    pod = one(docs, "Deployment", "-router")["spec"]["template"]["spec"]
    (keys,) = [v for v in pod["volumes"] if v["name"] == "keys"]
    assert keys["secret"]["secretName"] == "gptoss-keys"
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "keys"]
    assert mount == {"name": "keys", "mountPath": "/etc/gptoss/keys", "readOnly": True}
    for variable in pod["containers"][0]["env"]:
        assert "valueFrom" not in variable, "keys must not travel in environment variables"
        assert not variable["name"].endswith(("_KEY", "_PASSWORD")), variable


def test_a_provider_secret_key_without_a_secret_fails_with_a_clear_message(helm: Tool) -> None:
    done = helm(
        "template", "gptoss", str(CHART), "--values", str(CHART / "ci" / "full-values.yaml"),
        "--set", "router.keys.existingSecret=",
    )  # fmt: skip
    assert done.returncode != 0
    assert "names secretKey" in done.stderr
    assert "router.keys.existingSecret is empty" in done.stderr


def test_autoscaling_without_a_cpu_request_fails_with_a_clear_message(helm: Tool) -> None:
    done = helm(
        "template", "gptoss", str(CHART), "--set", "router.autoscaling.enabled=true",
        "--set", "router.resources.requests=null",
    )  # fmt: skip
    assert done.returncode != 0
    assert "needs router.resources.requests.cpu" in done.stderr


def test_the_router_hpa_scales_on_cpu_and_owns_the_replica_count(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "full-values.yaml")
    hpa = one(docs, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 60
    assert "replicas" not in one(docs, "Deployment", "-router")["spec"]
    assert find(render(helm), "HorizontalPodAutoscaler") == []


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_every_pod_runs_restricted(helm: Tool, values: Path) -> None:
    docs = render(helm, values)
    workloads = ("Deployment", "StatefulSet")
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in workloads]
    pods += [d["spec"] for d in docs if d["kind"] == "Pod"]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert "limits" in container["resources"]


def test_the_operator_serves_liveness_where_its_probe_looks(helm: Tool) -> None:
    container = one(render(helm), "Deployment", "-operator")["spec"]["template"]["spec"][
        "containers"
    ][0]
    port = next(p for p in container["ports"] if p["name"] == "liveness")
    assert f"--liveness=http://0.0.0.0:{port['containerPort']}/healthz" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}


def test_a_named_namespace_list_becomes_operator_arguments(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "namespaced-values.yaml")
    args = one(docs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ml-serving" in args
    assert "--namespace=ml-staging" in args


def test_the_crds_in_the_chart_are_a_copy_of_the_repository_crds() -> None:
    ours = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert ours, "no CRDs found in crds/"
    assert chart.keys() == ours.keys(), "charts/gptoss/crds/ lists other files than crds/"
    drifted = [name for name in ours if chart[name] != ours[name]]
    assert drifted == [], f"run: cp crds/*.yaml charts/gptoss/crds/ ({drifted} differ)"


def test_notes_tell_the_endpoint_and_the_next_command(helm: Tool) -> None:
    out = helm.ok(
        "install", "gptoss", str(CHART), "--dry-run=client", "--namespace", "ml"
    )  # fmt: skip
    notes = out.split("NOTES:", 1)[1]
    assert "http://gptoss-router.ml.svc:80/v1" in notes
    assert "kind: GptOssDeployment" in notes
    assert "kubectl get gptoss -A" in notes
    assert "kubectl apply --server-side -f" in notes


def test_the_chart_needs_kubernetes_1_30_which_keeps_the_routers_prestop_sleep(
    helm: Tool,
) -> None:
    """PodLifecycleSleepAction is alpha and off in 1.29: the API server drops the hook."""
    refused = helm("template", "gptoss", str(CHART), "--kube-version", "1.29.15")
    assert refused.returncode != 0
    assert "chart requires kubeVersion: >=1.30.0-0" in refused.stderr
    helm.ok("template", "gptoss", str(CHART), "--kube-version", "1.30.0")
    router = one(render(helm), "Deployment", "-router")["spec"]["template"]["spec"]
    assert router["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    readme = (CHART / "README.md").read_text()
    assert "Kubernetes 1.30 or later" in readme and "PodLifecycleSleepAction" in readme
