"""Removing ``spec.serving.image`` goes back to the operator's default image for the GPU vendor,
as the CRD says; an image that never came from the spec is still kept when a new operator
brings a new default, so an upgrade restarts nothing. The Deployment records where its image
came from (``gptoss.dev/image-source``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.kube.client import Kube
from gptoss_operator.reconciling.reconcile import reconcile
from gptoss_operator.reconciling.rollout import IMAGE_SOURCE_ANNOTATION, kept_image
from gptoss_operator.reconciling.upgrades import annotate, with_live_template
from gptoss_operator.settings import OperatorSettings
from tests.operator.memory_api import MemoryApi

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
LABEL = "nvidia.com/gpu.product"
DEFAULT = "vllm/vllm-openai:v0.17.0"
CUSTOM = "registry.example/vllm:hotfix-debug"
NO_IMAGE = GptOssDeploymentSpec.model_validate(
    {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
)


def _live(image: str, source: str | None) -> dict[str, Any]:
    annotations = {IMAGE_SOURCE_ANNOTATION: source} if source else {}
    pod = {
        "nodeSelector": {LABEL: "NVIDIA-H100-80GB-HBM3"},
        "containers": [{"name": "vllm", "image": image}],
    }
    return {"metadata": {"annotations": annotations}, "spec": {"template": {"spec": pod}}}


def _kept(live: dict[str, Any]) -> str:
    return kept_image(NO_IMAGE, {}, live, default=DEFAULT, label_key=LABEL)


def test_an_image_the_spec_set_and_no_longer_sets_goes_back_to_the_default() -> None:
    assert _kept(_live(CUSTOM, "Spec")) == DEFAULT


def test_an_image_the_operator_chose_is_kept_when_its_default_changes() -> None:
    assert _kept(_live("vllm/vllm-openai:v0.16.0", "Operator")) == "vllm/vllm-openai:v0.16.0"
    # A Deployment of an operator that did not record it: kept, as before.
    assert _kept(_live("vllm/vllm-openai:v0.16.0", None)) == "vllm/vllm-openai:v0.16.0"


def test_a_template_that_waits_keeps_saying_where_its_image_came_from() -> None:
    def deployment(source: str, shm: str) -> dict[str, Any]:
        body = {"metadata": {"name": "chat-vllm"}, "spec": {"replicas": 1, "template": {"x": shm}}}
        return annotate(body, spec_digest="d", more={IMAGE_SOURCE_ANNOTATION: source})

    waiting = with_live_template(deployment("Spec", "16Gi"), deployment("Operator", "32Gi"))
    assert waiting["metadata"]["annotations"][IMAGE_SOURCE_ANNOTATION] == "Spec"


def _cr(image: str | None) -> dict[str, Any]:
    serving = {"image": image} if image else {}
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": serving},
    }


def _image(api: MemoryApi) -> str:
    containers = api.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return str(next(c["image"] for c in containers if c["name"] == "vllm"))


def test_removing_spec_serving_image_rolls_the_replicas_to_the_default_image() -> None:
    api, settings = MemoryApi(), OperatorSettings(vllm_image_nvidia=DEFAULT)
    reconcile(_cr(CUSTOM), cast(Kube, api), settings, now=NOW)
    assert _image(api) == CUSTOM
    status = reconcile(_cr(None), cast(Kube, api), settings, now=NOW).status
    assert _image(api) == DEFAULT
    assert status["image"] == DEFAULT and "availableImage" not in status
    assert api.one("Deployment")["metadata"]["annotations"][IMAGE_SOURCE_ANNOTATION] == "Operator"


def test_a_new_default_image_restarts_nothing_that_never_named_an_image() -> None:
    api = MemoryApi()
    reconcile(_cr(None), cast(Kube, api), OperatorSettings(vllm_image_nvidia=DEFAULT), now=NOW)
    newer = OperatorSettings(vllm_image_nvidia="vllm/vllm-openai:v0.18.0")
    status = reconcile(_cr(None), cast(Kube, api), newer, now=NOW).status
    assert _image(api) == DEFAULT
    assert status["availableImage"] == "vllm/vllm-openai:v0.18.0"
