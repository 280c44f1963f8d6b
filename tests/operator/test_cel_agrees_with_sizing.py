"""The CRD's CEL rule and ``sizing.py`` give the same verdict, and the same message, for every
model x GPU product x GPU count, under several serving options, in a real API server."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import SizingError
from gptoss_operator.placement.architectures import MODELS
from gptoss_operator.placement.gpus import PRODUCTS
from gptoss_operator.placement.serving_args import sizing_overrides
from gptoss_operator.placement.sizing import size_spec
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION, manifest

pytestmark = pytest.mark.usefixtures("gptoss_crd")

COUNTS = (None, 1, 2, 4, 8)
SERVING: tuple[dict[str, Any], ...] = (
    {},
    {"maxModelLen": 32768},
    {"maxModelLen": 8192, "gpuMemoryUtilization": 0.95},
    {"maxModelLen": 65536, "gpuMemoryUtilization": 0.85, "maxNumBatchedTokens": 2048},
)


def _server_verdict(api: client.CustomObjectsApi, namespace: str, spec: dict[str, Any]) -> str:
    """'' if the API server accepts ``spec`` (dry run), else its error message."""
    try:
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, manifest("grid", spec), dry_run="All"
        )
    except ApiException as refused:
        assert refused.status == 422, refused.body
        return str(json.loads(refused.body)["message"])
    return ""


def _sizing_verdict(spec: dict[str, Any]) -> str:
    """'' if ``sizing.py`` places ``spec``, else its refusal."""
    try:
        size_spec(GptOssDeploymentSpec.model_validate(spec))
    except SizingError as refused:
        return str(refused)
    return ""


def test_cel_and_sizing_agree_over_every_model_product_count_and_serving_option(
    api_client: client.ApiClient, namespace: str
) -> None:
    api = client.CustomObjectsApi(api_client)
    disagreements = []
    verdicts = []
    for model, product, count, serving in itertools.product(MODELS, PRODUCTS, COUNTS, SERVING):
        gpu: dict[str, Any] = {"product": product.name}
        if count is not None:
            gpu["count"] = count
        spec = {"model": model.name, "gpu": gpu, "serving": serving}
        server, sizing = _server_verdict(api, namespace, spec), _sizing_verdict(spec)
        verdicts.append(bool(server))
        agrees = (server == sizing == "") or (
            bool(sizing) and f"spec.gpu: Invalid value: {sizing}" in server
        )
        if not agrees:
            disagreements.append((spec, server, sizing))
    assert disagreements == []
    assert len(verdicts) == len(MODELS) * len(PRODUCTS) * len(COUNTS) * len(SERVING)
    assert any(verdicts) and not all(verdicts)  # the grid holds both fits and misfits


SQL = {"name": "sql", "uri": "hf://acme/sql", "rank": 16}
LEGAL = {"name": "legal", "uri": "hf://acme/legal", "rank": 32}
# LoRA settings whose buffers both sides count (docs/fine-tunes.md, Adapter memory).
LORA: tuple[dict[str, Any], ...] = (
    {"adapters": [SQL]},
    {"adapters": [SQL, LEGAL], "serving": {"maxLoras": 4}},
    {"adapterLoading": "Runtime"},
    {"adapterLoading": "Runtime", "adapters": [SQL], "serving": {"maxLoras": 8, "maxLoraRank": 64}},
)


def test_cel_and_sizing_agree_with_lora_adapters_over_every_model_product_and_count(
    api_client: client.ApiClient, namespace: str
) -> None:
    api = client.CustomObjectsApi(api_client)
    disagreements = []
    verdicts = []
    for model, product, count, serving, lora in itertools.product(
        MODELS, PRODUCTS, COUNTS, SERVING[:2], LORA
    ):
        gpu: dict[str, Any] = {"product": product.name}
        if count is not None:
            gpu["count"] = count
        spec = {
            "model": model.name,
            "gpu": gpu,
            **lora,
            "serving": {**serving, **lora.get("serving", {})},
        }
        server, sizing = _server_verdict(api, namespace, spec), _sizing_verdict(spec)
        verdicts.append(bool(server))
        agrees = (server == sizing == "") or (
            bool(sizing) and f"spec.gpu: Invalid value: {sizing}" in server
        )
        if not agrees:
            disagreements.append((spec, server, sizing))
    assert disagreements == []
    assert any(verdicts) and not all(verdicts)
    assert any("LoRA buffers" in d for d in _lora_refusals(api, namespace))


def _lora_refusals(api: client.CustomObjectsApi, namespace: str) -> list[str]:
    """The API server's refusal of 120b with an adapter on one H100 at 32k tokens, which fits
    without one."""
    base = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 1}}
    serving = {"serving": {"maxModelLen": 32768}}
    assert _server_verdict(api, namespace, {**base, **serving}) == ""
    return [_server_verdict(api, namespace, {**base, **serving, "adapters": [SQL]})]


SIZED = "which the operator sizes"
UNWIRED = "but the probes, the Service"


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--gpu-memory-utilization", "0.25"], SIZED),
        (["--max_model_len=262144"], SIZED),
        (["-tp", "1"], SIZED),
        (["--kv-cache-memory-bytes=1000000"], SIZED),
        (["--max-lora-rank", "64"], SIZED),
        (["-pp", "2"], SIZED),
        (["--data_parallel_size=2"], SIZED),
        (["--port", "9000"], UNWIRED),
        (["--host=127.0.0.1"], UNWIRED),
        (["--uds", "/tmp/vllm.sock"], UNWIRED),
        (["--ssl_keyfile", "/k.pem"], UNWIRED),
        (["--api-key", "sk-local"], UNWIRED),
        (["--served-model-name", "chat"], UNWIRED),
    ],
)
def test_the_api_server_refuses_the_extra_args_the_operator_refuses_naming_the_flag(
    api_client: client.ApiClient, namespace: str, extra: list[str], why: str
) -> None:
    """Flags the operator sizes, and flags the pod is reached or named by: extraArgs come last,
    and vLLM would take them over the operator's own."""
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    spec["serving"] = {"extraArgs": ["--enable-expert-parallel", *extra]}
    said = _server_verdict(client.CustomObjectsApi(api_client), namespace, spec)
    flag = extra[0].split("=")[0]
    assert f"spec.serving.extraArgs sets {flag}, {why}" in said
    assert "sk-local" not in said
    assert sizing_overrides(GptOssDeploymentSpec.model_validate(spec)) is not None


def test_extra_args_the_operator_does_not_size_pass_and_abbreviations_are_left_to_it(
    api_client: client.ApiClient, namespace: str
) -> None:
    api = client.CustomObjectsApi(api_client)
    spec: dict[str, Any] = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    spec["serving"] = {"extraArgs": ["--max-num-seqs", "64", "--enable-expert-parallel"]}
    assert _server_verdict(api, namespace, spec) == ""
    assert sizing_overrides(GptOssDeploymentSpec.model_validate(spec)) is None
    # vLLM's parser takes an unambiguous prefix: past CEL, the operator refuses it
    spec["serving"] = {"extraArgs": ["--max-model", "8192"]}
    assert _server_verdict(api, namespace, spec) == ""
    said = sizing_overrides(GptOssDeploymentSpec.model_validate(spec))
    assert said is not None and "--max-model-len 8192" in said


def test_a_kv_cache_layout_of_its_own_leaves_the_fit_to_the_operator(
    api_client: client.ApiClient, namespace: str
) -> None:
    """gpt-oss-120b at 64k tokens on one H100 does not fit the recipe's bf16 cache; with an fp8
    cache of its own it does. The API server, which knows only the recipes' layouts, lets both
    layouts through to the operator, whose sizing reads the flag."""
    api = client.CustomObjectsApi(api_client)
    base = {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB", "count": 1}}
    bf16 = {**base, "serving": {"maxModelLen": 65536}}
    assert "does not fit 1 x H100-80GB" in _server_verdict(api, namespace, bf16)
    assert _sizing_verdict(bf16) != ""
    for extra in (["--kv-cache-dtype", "fp8"], ["--kv_cache_dtype=fp8_e5m2"]):
        fp8 = {**base, "serving": {"maxModelLen": 65536, "extraArgs": extra}}
        assert _server_verdict(api, namespace, fp8) == ""
        assert _sizing_verdict(fp8) == ""
    too_long = {**base, "serving": {"extraArgs": ["--kv-cache-dtype", "fp8"]}}
    assert _server_verdict(api, namespace, too_long) == ""
    assert "does not fit 1 x H100-80GB" in _sizing_verdict(too_long)
