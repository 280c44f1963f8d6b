"""The vLLM flags per GPU architecture follow the published recipe, and the GPU catalog matches
the labels the vendors' node labellers publish (docs/sources.md, vLLM recipe and GPU nodes)."""

from __future__ import annotations

import pytest

from gptoss_localkube.nodes import CATALOG
from gptoss_operator.errors import CatalogError
from gptoss_operator.placement.architectures import GPT_OSS_20B, GPT_OSS_120B
from gptoss_operator.placement.gpus import PRODUCTS, Vendor, product_named
from gptoss_operator.placement.sizing import size


def _flag(args: tuple[str, ...], name: str) -> str:
    return args[args.index(name) + 1]


def test_hopper_gets_the_keys_of_the_hopper_yaml() -> None:
    # GPT-OSS_Hopper.yaml: max-cudagraph-capture-size 2048, max-num-batched-tokens 8192,
    # stream-interval 20; its no-enable-prefix-caching is a benchmark setting, not kept.
    args = size(GPT_OSS_20B, product_named("H100-80GB")).vllm_args
    assert not any("prefix-caching" in arg for arg in args)
    assert _flag(args, "--max-cudagraph-capture-size") == "2048"
    assert _flag(args, "--max-num-batched-tokens") == "8192"
    assert _flag(args, "--stream-interval") == "20"


def test_120b_on_one_h100_gets_the_recipe_workaround_for_its_memory_limit() -> None:
    # Recipe, known limitations: "--gpu-memory-utilization 0.95 --max-num-batched-tokens 1024".
    sizing = size(GPT_OSS_120B, product_named("H100-80GB"), gpus=1, max_model_len=16384)
    args = sizing.vllm_args
    assert _flag(args, "--tensor-parallel-size") == "1"
    assert _flag(args, "--gpu-memory-utilization") == "0.95"
    assert _flag(args, "--max-num-batched-tokens") == "1024"
    assert _flag(args, "--max-model-len") == "16384"


def test_a100_runs_plain_vllm_serve_with_only_the_sized_flags() -> None:
    sizing = size(GPT_OSS_120B, product_named("A100-80GB"))
    assert sizing.vllm_args == (
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "131072",
        "--gpu-memory-utilization",
        "0.9",
        "--max-num-batched-tokens",
        "8192",
    )
    assert sizing.env == {}


def test_mi300x_gets_the_tuned_rocm_flags_and_environment() -> None:
    sizing = size(GPT_OSS_120B, product_named("MI300X"))
    args = sizing.vllm_args
    assert _flag(args, "--attention-backend") == "ROCM_AITER_UNIFIED_ATTN"
    assert "-cc.pass_config.fuse_rope_kvcache=True" in args
    assert "-cc.use_inductor_graph_partition=True" in args
    assert "--block-size=64" in args
    assert _flag(args, "--gpu-memory-utilization") == "0.95"
    assert sizing.env == {
        "AMDGCN_USE_BUFFER_OPS": "0",
        "VLLM_ROCM_USE_AITER": "1",
        "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION": "INT4",
    }


def test_every_product_names_the_label_and_memory_of_the_matching_fake_node() -> None:
    fake = {n.gpu.product: n.gpu for n in CATALOG if n.gpu is not None}
    for product in PRODUCTS:
        gpu = fake[product.label_value]
        assert gpu.memory_mib == product.memory_mib
        assert gpu.resource == product.resource_name
    assert {p.label_value for p in PRODUCTS} == set(fake)


def test_products_are_found_by_short_name_or_by_node_label() -> None:
    assert product_named("NVIDIA-H100-80GB-HBM3") is product_named("H100-80GB")
    mi300x = product_named("MI300X")
    assert mi300x.vendor is Vendor.AMD
    assert mi300x.label_key == "amd.com/gpu.product-name"
    assert product_named("L4").label_key == "nvidia.com/gpu.product"
    assert product_named("NVIDIA-H200").name == "H200"
    assert product_named("MI325X").label_key == "amd.com/gpu.product-name"
    with pytest.raises(CatalogError, match="H100-80GB, A100-80GB, L4, MI300X, H200"):
        product_named("GB200")
