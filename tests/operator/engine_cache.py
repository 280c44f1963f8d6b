"""What a running vLLM pod's engine says of its KV cache, read from its ``/metrics``
(``vllm:cache_config_info``, whose labels are the engine's cache settings)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_operator.placement.sizing import Sizing

__all__ = ["engine_cache_tokens", "predicted_cache_tokens"]


def engine_cache_tokens(pod_ip: str, port: int = 8000) -> int:
    """Tokens the engine's KV cache holds on each of its GPUs: its blocks times their size."""
    text = httpx.get(f"http://{pod_ip}:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "vllm:cache_config_info":
            labels = family.samples[0].labels
            return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
    raise AssertionError(f"no vllm:cache_config_info on {pod_ip}")


def predicted_cache_tokens(sizing: Sizing) -> float:
    """What the operator's sizing says that cache holds on each GPU: the replica's KV memory
    over what a token takes across the full-attention layers (both split across its GPUs)."""
    budget = sizing.budget
    token_bytes = sizing.model.full_attention_layers * budget.kv_bytes_per_layer_token
    return budget.kv_cache_mib * 1024 * 1024 / token_bytes
