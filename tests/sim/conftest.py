"""Fixtures for the simulator tests: fast capacity parameters and servers on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gptoss_sim import (
    CapacityParams,
    ProviderConfig,
    ProviderSim,
    ReplyParams,
    Running,
    VllmConfig,
    VllmSim,
    running,
)
from gptoss_sim.providers.profiles import PROFILES

MODEL = "openai/gpt-oss-120b"

# Milliseconds instead of real GPU timings, so a test runs in well under a second.
FAST = CapacityParams(
    max_num_seqs=4,
    max_num_batched_tokens=512,
    kv_cache_tokens=64_000,
    max_model_len=8_192,
    step_base_s=0.002,
    step_per_seq_s=0.0005,
    prefill_token_s=0.00001,
    startup_s=0.0,
)
SHORT = ReplyParams(reasoning_tokens={"low": 4, "medium": 8, "high": 24}, answer_tokens=12)


def vllm_config(**overrides: object) -> VllmConfig:
    fields: dict[str, object] = {"capacity": FAST, "reply": SHORT}
    fields.update(overrides)
    return VllmConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def vllm() -> Iterator[Running]:
    with running(VllmSim(vllm_config())) as server:
        yield server


@pytest.fixture
def vllm_client(vllm: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm.openai_base_url, api_key="unused", max_retries=0)


def provider_sim(kind: str, **overrides: object) -> ProviderSim:
    fields: dict[str, object] = {"time_scale": 0.0, "reply": SHORT}
    fields.update(overrides)
    return ProviderSim(ProviderConfig(PROFILES[kind], **fields))  # type: ignore[arg-type]


def client_for(server: Running, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.openai_base_url, api_key="test-key", max_retries=0, **kwargs
    )
