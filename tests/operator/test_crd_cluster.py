"""The CRD in a real API server: examples apply, kubectl shows and explains the resource, the
scale subresource drives spec.replicas, and status written from the pydantic model is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.api.status import GptOssDeploymentStatus
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import EXAMPLES, GROUP, PLURAL, VERSION, load_yaml, version_schema


def _example(name: str) -> dict[str, Any]:
    (path,) = [p for p in EXAMPLES if p.name == name]
    return load_yaml(path)


def _get(api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api_client)
    found: dict[str, Any] = objects.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return found


def _write_status(
    api_client: client.ApiClient, namespace: str, name: str, status: GptOssDeploymentStatus
) -> None:
    body = {"status": status.model_dump(by_alias=True, exclude_none=True, mode="json")}
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, body
    )


@pytest.mark.usefixtures("gptoss_crd")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_applies_cleanly_and_the_server_defaults_match_the_model(
    example: Path, kubectl: Kubectl, api_client: client.ApiClient, namespace: str
) -> None:
    applied = kubectl("apply", "--validate=strict", "-n", namespace, "-f", str(example))
    assert applied.returncode == 0, applied.stderr
    assert applied.stderr == ""  # no warnings either
    document = load_yaml(example)
    stored = _get(api_client, namespace, document["metadata"]["name"])
    expected = GptOssDeploymentSpec.model_validate(document["spec"])
    assert stored["spec"] == expected.model_dump(by_alias=True, exclude_none=True)


def _ready_status(namespace: str, name: str) -> GptOssDeploymentStatus:
    return GptOssDeploymentStatus.model_validate(
        {
            "observedGeneration": 1,
            "replicas": 2,
            "readyReplicas": 2,
            "selector": f"app.kubernetes.io/instance={name}",
            "endpoint": f"http://{name}.{namespace}.svc:8000/v1",
            "sizing": {
                "tensorParallelSize": 1,
                "maxModelLen": 131072,
                "gpuMemoryUtilization": 0.9,
                "maxNumBatchedTokens": 8192,
                "kvCacheGiB": 49.21,
                "maxFullLengthSequences": 15,
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "reason": "AllReplicasReady",
                    "message": "2 of 2 replicas serve requests",
                }
            ],
        }
    )


@pytest.mark.usefixtures("gptoss_crd")
def test_kubectl_get_gptoss_shows_model_gpu_replicas_endpoint_and_readiness(
    kubectl: Kubectl, api_client: client.ApiClient, namespace: str
) -> None:
    document = _example("gpt-oss-20b-h100.yaml")
    name = document["metadata"]["name"]
    assert kubectl.apply(namespace, document).returncode == 0
    _write_status(api_client, namespace, name, _ready_status(namespace, name))

    listed = kubectl("get", "gptoss", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    header, row = (line.split() for line in listed.stdout.strip().splitlines())
    columns = "NAME MODEL GPU GPUS DESIRED READY ENDPOINT AVAILABLE REASON AGE"
    assert header == columns.split()
    values = dict(zip(header, row, strict=True))
    assert values["NAME"] == name
    assert values["MODEL"] == "gpt-oss-20b"
    assert values["GPU"] == "H100-80GB"
    assert values["GPUS"] == "1"
    assert values["DESIRED"] == str(document["spec"]["replicas"])
    assert values["READY"] == "2"
    assert values["ENDPOINT"] == f"http://{name}.{namespace}.svc:8000/v1"
    assert values["AVAILABLE"] == "True"
    assert values["REASON"] == "AllReplicasReady"


@pytest.mark.usefixtures("gptoss_crd")
def test_kubectl_explain_prints_the_description_of_every_gpu_field(kubectl: Kubectl) -> None:
    explained = kubectl("explain", "gptossdeployment.spec.gpu")
    assert explained.returncode == 0, explained.stderr
    text = " ".join(explained.stdout.split())
    gpu = version_schema("spec")["properties"]["gpu"]
    assert " ".join(gpu["description"].split()) in text
    for field, schema in gpu["properties"].items():
        assert f"{field} <" in text, field
        first_sentence = schema["description"].split(". ")[0]
        assert " ".join(first_sentence.split()) in text, field


@pytest.mark.usefixtures("gptoss_crd")
def test_kubectl_scale_changes_spec_replicas_through_the_scale_subresource(
    kubectl: Kubectl, api_client: client.ApiClient, namespace: str
) -> None:
    document = _example("gpt-oss-120b-h100.yaml")
    name = document["metadata"]["name"]
    assert kubectl.apply(namespace, document).returncode == 0
    _write_status(api_client, namespace, name, _ready_status(namespace, name))
    assert _get(api_client, namespace, name)["spec"]["replicas"] == 1

    scaled = kubectl("scale", f"gptoss/{name}", "--replicas=3", "-n", namespace)
    assert scaled.returncode == 0, scaled.stderr

    assert _get(api_client, namespace, name)["spec"]["replicas"] == 3
    scale = client.CustomObjectsApi(api_client).get_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, PLURAL, name
    )
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["replicas"] == 2  # statusReplicasPath
    assert scale["status"]["selector"] == f"app.kubernetes.io/instance={name}"
