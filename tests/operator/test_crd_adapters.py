"""The API server refuses bad LoRA adapter settings, naming the field and the numbers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import manifest

pytestmark = pytest.mark.usefixtures("gptoss_crd")

BASE: dict[str, Any] = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}


def _refused(kubectl: Kubectl, namespace: str, spec: dict[str, Any]) -> str:
    applied = kubectl.apply(namespace, manifest("refused", spec))
    assert applied.returncode != 0, applied.stdout
    assert "NotFound" in kubectl("get", "gptoss/refused", "-n", namespace).stderr
    return " ".join(applied.stderr.split())


def test_an_adapter_rank_above_max_lora_rank_is_refused_naming_adapter_and_ranks(
    kubectl: Kubectl, namespace: str
) -> None:
    spec = {
        **BASE,
        "serving": {"maxLoraRank": 32},
        "adapters": [
            {"name": "sql", "uri": "hf://acme/sql-lora", "rank": 16},
            {"name": "legal", "uri": "hf://acme/legal-lora", "rank": 64},
        ],
    }
    error = _refused(kubectl, namespace, spec)
    assert (
        "spec.adapters: Invalid value: spec.adapters: adapter legal has rank 64, "
        "above spec.serving.maxLoraRank (32); vLLM would refuse it at startup" in error
    )


def test_a_max_lora_rank_vllm_does_not_offer_is_refused_with_the_choices(
    kubectl: Kubectl, namespace: str
) -> None:
    error = _refused(kubectl, namespace, {**BASE, "serving": {"maxLoraRank": 48}})
    assert "spec.serving.maxLoraRank: Unsupported value: 48" in error
    assert '"1", "8", "16", "32", "64", "128", "256", "320", "512"' in error


def test_a_bucket_adapter_loaded_at_run_time_is_refused_naming_adapter_and_uri(
    kubectl: Kubectl, namespace: str
) -> None:
    spec = {
        **BASE,
        "adapterLoading": "Runtime",
        "adapters": [
            {"name": "sql", "uri": "hf://acme/sql-lora", "rank": 16},
            {"name": "fin", "uri": "s3://acme/fin-lora", "rank": 8},
        ],
    }
    error = _refused(kubectl, namespace, spec)
    assert (
        "spec.adapters: adapter fin is at s3://acme/fin-lora; with spec.adapterLoading Runtime "
        "an adapter must be hf:// or pvc://" in error
    )
    accepted = kubectl.apply(namespace, manifest("bucket", {**spec, "adapterLoading": "Startup"}))
    assert accepted.returncode == 0, accepted.stderr


def test_a_run_time_adapter_above_vllms_default_rank_is_refused_unless_max_lora_rank_is_set(
    kubectl: Kubectl, namespace: str
) -> None:
    wide = {"name": "legal", "uri": "hf://acme/legal-lora", "rank": 32}
    spec = {**BASE, "adapterLoading": "Runtime", "adapters": [wide]}
    error = _refused(kubectl, namespace, spec)
    assert (
        "spec.adapters: adapter legal has rank 32, above the --max-lora-rank 16 that vLLM takes "
        "by default and adapterLoading Runtime keeps without spec.serving.maxLoraRank" in error
    )
    raised = {**spec, "serving": {"maxLoraRank": 32}}
    assert kubectl.apply(namespace, manifest("raised", raised)).returncode == 0


def test_two_adapters_with_one_name_are_refused(kubectl: Kubectl, namespace: str) -> None:
    twice = {"name": "sql", "uri": "hf://acme/sql-lora", "rank": 16}
    error = _refused(kubectl, namespace, {**BASE, "adapters": [twice, {**twice, "rank": 8}]})
    assert "spec.adapters[1]: Duplicate value" in error


def test_a_fine_tune_with_adapters_and_the_base_fallback_is_accepted(
    kubectl: Kubectl, namespace: str
) -> None:
    spec = {
        **BASE,
        "source": {"uri": "pvc://checkpoints/support-v3"},
        "servedModelName": "acme/support-v3",
        "adapters": [{"name": "sql", "uri": "hf://acme/sql-lora", "rank": 48}],
        "spillover": {"providers": ["groq"], "acceptBaseModel": True},
    }
    applied = kubectl.apply(namespace, manifest("support", spec))
    assert applied.returncode == 0, applied.stderr
    got = kubectl("get", "gptoss/support", "-n", namespace, "-o", "jsonpath={.spec}").stdout
    assert '"acceptBaseModel":true' in got and '"servedModelName":"acme/support-v3"' in got
