"""The API server itself refuses invalid GptOssDeployments, naming the field and the numbers."""

from __future__ import annotations

from typing import Any

import pytest

from gptoss_operator.errors import SizingError
from gptoss_operator.placement.architectures import model_named
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.sizing import size
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import manifest

pytestmark = pytest.mark.usefixtures("gptoss_crd")


def _sizing_refusal(model: str, product: str, gpus: int) -> str:
    with pytest.raises(SizingError) as refused:
        size(model_named(model), product_named(product), gpus=gpus)
    return str(refused.value)


def _refused(kubectl: Kubectl, namespace: str, spec: dict[str, Any]) -> str:
    """Apply ``spec`` and return the API server's refusal; the object must not exist."""
    applied = kubectl.apply(namespace, manifest("refused", spec))
    assert applied.returncode != 0, applied.stdout
    missing = kubectl("get", "gptoss/refused", "-n", namespace)
    assert "NotFound" in missing.stderr
    return " ".join(applied.stderr.split())


def test_120b_on_one_l4_is_refused_with_the_memory_needed_and_available(
    kubectl: Kubectl, namespace: str
) -> None:
    spec = {"model": "gpt-oss-120b", "gpu": {"product": "L4", "count": 1}}
    error = _refused(kubectl, namespace, spec)
    expected = _sizing_refusal("gpt-oss-120b", "L4", 1)
    assert f"spec.gpu: Invalid value: {expected}" in error
    # The numbers: 90% of one L4's memory (vLLM's default utilization) against what 120b needs.
    l4 = product_named("L4")
    assert f"but 1 x L4 at gpuMemoryUtilization 0.90 gives {0.9 * l4.memory_gib:.2f} GiB" in error
    assert "gpt-oss-120b does not fit 1 x L4: one replica needs" in error
    assert "set spec.gpu.count to 8" in error


def test_120b_on_one_h100_at_full_context_is_refused_with_two_ways_out(
    kubectl: Kubectl, namespace: str
) -> None:
    spec = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 1}}
    error = _refused(kubectl, namespace, spec)
    assert _sizing_refusal("gpt-oss-120b", "H100-80GB", 1) in error
    assert "set spec.gpu.count to 2 or lower spec.serving.maxModelLen to" in error


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "autoscaling": {"minReplicas": 3, "maxReplicas": 2},
            },
            [
                "spec.autoscaling.minReplicas",
                "spec.autoscaling.minReplicas (3) must not exceed spec.autoscaling.maxReplicas (2)",
            ],
            id="min-replicas-above-max",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "replicas": 3,
                "cache": {"pvc": {"size": "100Gi"}},
            },
            [
                "spec.cache.pvc.accessMode",
                "ReadWriteOnce mounts the weights on one node only, but spec.replicas is 3 and",
                "set spec.cache.pvc.accessMode to ReadWriteMany",
            ],
            id="read-write-once-cache-shared-by-replicas",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "autoscaling": {"minReplicas": 1, "maxReplicas": 4},
                "cache": {"pvc": {"size": "100Gi", "accessMode": "ReadWriteOnce"}},
            },
            ["spec.cache.pvc.accessMode", "but spec.autoscaling.maxReplicas is 4 and"],
            id="read-write-once-cache-and-an-autoscaler",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "source": {"uri": "s3://models/gpt-oss-20b", "revision": "main"},
            },
            ["spec.source.revision", "pins a Hugging Face revision"],
            id="revision-on-an-object-store-source",
        ),
        pytest.param(
            {"model": "gpt-oss-999b", "gpu": {"product": "H100-80GB"}},
            ['spec.model: Unsupported value: "gpt-oss-999b"', '"gpt-oss-120b", "gpt-oss-20b"'],
            id="unknown-model",
        ),
        pytest.param(
            {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB", "count": -1}},
            ["spec.gpu.count: Invalid value: -1", "greater than or equal to 1"],
            id="negative-count",
        ),
        pytest.param(
            {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB", "count": 3}},
            ["spec.gpu.count", "must be 1, 2, 4 or 8", "not 3"],
            id="count-not-a-power-of-two",
        ),
        pytest.param(
            {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB", "vendor": "nvidia"}},
            ['unknown field "spec.gpu.vendor"'],
            id="unknown-field",
        ),
        pytest.param(
            {"model": "gpt-oss-20b", "gpu": {"product": "GB200"}},
            ['spec.gpu.product: Unsupported value: "GB200"', '"H100-80GB"', '"MI300X"'],
            id="unknown-gpu-product",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "serving": {"maxModelLen": 200000},
            },
            ["spec.serving.maxModelLen", "200000 exceeds the 131072-token context window"],
            id="context-beyond-the-model-window",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "serving": {"maxNumSeqs": 1024, "maxNumBatchedTokens": 512},
            },
            ["spec.serving.maxNumBatchedTokens 512 is below spec.serving.maxNumSeqs 1024"],
            id="scheduler-step-below-the-sequences",
        ),
        pytest.param(
            {
                "model": "gpt-oss-20b",
                "gpu": {"product": "H100-80GB"},
                "cache": {"pvc": {"create": False}},
            },
            ["spec.cache.pvc", "name is required when spec.cache.pvc.create is false"],
            id="existing-claim-without-a-name",
        ),
        pytest.param(
            {
                "model": "gpt-oss-120b",
                "gpu": {"product": "H100-80GB"},
                "servedModelName": "gpt-oss-20b",
            },
            [
                "spec.servedModelName",
                "gpt-oss-20b is the name of the other base model, but spec.model is gpt-oss-120b",
            ],
            id="one-base-model-under-the-others-name",
        ),
    ],
)
def test_invalid_objects_are_refused_naming_the_field_and_the_numbers(
    spec: dict[str, Any], expected: list[str], kubectl: Kubectl, namespace: str
) -> None:
    error = _refused(kubectl, namespace, spec)
    for fragment in expected:
        assert fragment in error


def test_a_cost_policy_on_a_product_without_a_list_price_is_accepted_for_the_operator_prices_it(
    kubectl: Kubectl, namespace: str
) -> None:
    """The chart's operator.gpuHourlyPrices may price it, which the API server cannot see; when
    nothing does, the operator does not apply the Cost policy (test_prices_missing)."""
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H200"},
        "autoscaling": {"policy": "Cost", "minReplicas": 1, "maxReplicas": 2},
    }
    applied = kubectl.apply(namespace, manifest("priced-by-the-operator", spec))
    assert applied.returncode == 0, applied.stderr


def test_the_model_cannot_change_in_place(kubectl: Kubectl, namespace: str) -> None:
    first = kubectl.apply(
        namespace, manifest("chat", {"model": "gpt-oss-20b", "gpu": {"product": "MI300X"}})
    )
    assert first.returncode == 0, first.stderr
    changed = kubectl.apply(
        namespace, manifest("chat", {"model": "gpt-oss-120b", "gpu": {"product": "MI300X"}})
    )
    assert changed.returncode != 0
    assert "spec.model cannot change in place" in changed.stderr
    stored = kubectl("get", "gptoss/chat", "-n", namespace, "-o", "jsonpath={.spec.model}")
    assert stored.stdout == "gpt-oss-20b"


def test_a_created_claims_access_mode_changes_only_with_a_new_claim(
    kubectl: Kubectl, namespace: str
) -> None:
    def spec(pvc: dict[str, Any]) -> dict[str, Any]:
        return {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "cache": {"pvc": pvc}}

    first = kubectl.apply(namespace, manifest("cached", spec({"size": "100Gi"})))
    assert first.returncode == 0, first.stderr
    rwx = {"size": "100Gi", "accessMode": "ReadWriteMany"}
    changed = kubectl.apply(namespace, manifest("cached", spec(rwx)))
    assert changed.returncode != 0
    said = " ".join(changed.stderr.split())
    assert "spec.cache.pvc.accessMode cannot change from ReadWriteOnce to ReadWriteMany" in said
    assert "name a new claim in spec.cache.pvc.name" in said
    renamed = kubectl.apply(namespace, manifest("cached", spec({**rwx, "name": "cached-rwx"})))
    assert renamed.returncode == 0, renamed.stderr
    grown = kubectl.apply(
        namespace, manifest("cached", spec({**rwx, "name": "cached-rwx", "size": "200Gi"}))
    )
    assert grown.returncode == 0, grown.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("20b-chat", "metadata.name must start with a letter", id="a-leading-digit"),
        pytest.param("chat.v2", "(no dots)", id="a-dot"),
        pytest.param("c" * 64, "metadata.name must be at most 63 characters", id="64-characters"),
    ],
)
def test_a_name_the_service_or_the_pod_label_cannot_carry_is_refused(
    name: str, expected: str, kubectl: Kubectl, namespace: str
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "MI300X"}}
    applied = kubectl.apply(namespace, manifest(name, spec))
    assert applied.returncode != 0, applied.stdout
    assert expected in " ".join(applied.stderr.split())


def test_a_name_of_63_characters_is_accepted(kubectl: Kubectl, namespace: str) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "MI300X"}}
    applied = kubectl.apply(namespace, manifest("c" + "-0" * 31, spec))
    assert applied.returncode == 0, applied.stderr
