"""What sets each hosted provider apart, as data.

Every fact here is from docs/sources.md, Providers (hosted providers for gpt-oss) unless a comment
says otherwise; prices are USD per million tokens "as captured" there, not live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["groq", "fireworks", "together", "openai"]


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True)
class Limits:
    """Rate limits and platform capacity (simulation knobs, tuned small in tests)."""

    requests: int | None = None
    request_window_s: float = 60.0
    tokens: int | None = None
    token_window_s: float = 60.0
    capacity: int | None = None  # concurrent requests the platform can serve


@dataclass(frozen=True)
class ProviderProfile:
    kind: Kind
    api_prefix: str
    models: Mapping[str, str]  # provider model id -> the gpt-oss model it serves
    prices: Mapping[str, Price]  # keyed by provider model id
    reasoning_field: str
    responses_stateful: bool
    tokens_per_s: float
    ttft_s: float
    limits: Limits = field(default_factory=Limits)


# Groq: base https://api.groq.com/openai/v1; 120b $0.15/$0.60 (Groq models and pricing pages,
# via braintrust-proxy #479, #566, #925), 20b $0.075/$0.30; `message.reasoning`; Responses
# without stored conversations; "~500 tps" for 120b (console.groq.com/docs/models); limits are
# requests per day and tokens per minute (x-ratelimit-limit-requests is RPD).
GROQ = ProviderProfile(
    kind="groq",
    api_prefix="/openai/v1",
    models={
        "openai/gpt-oss-120b": "gpt-oss-120b",
        "openai/gpt-oss-20b": "gpt-oss-20b",
        "openai/gpt-oss-safeguard-20b": "gpt-oss-20b",
    },
    prices={
        "openai/gpt-oss-120b": Price(0.15, 0.60),
        "openai/gpt-oss-20b": Price(0.075, 0.30),
        "openai/gpt-oss-safeguard-20b": Price(0.075, 0.30),
    },
    reasoning_field="reasoning",
    responses_stateful=False,
    tokens_per_s=500.0,
    ttft_s=0.2,
    limits=Limits(requests=14_400, request_window_s=86_400.0, tokens=250_000, capacity=256),
)

# Fireworks: base https://api.fireworks.ai/inference/v1; $0.15/$0.60 and $0.07/$0.30 (lava.so,
# mastra.ai); `reasoning_content`; stateful Responses (previous_response_id, store on by
# default); 525 t/s (Artificial Analysis, 120B low); adaptive limits starting at 3.6 M prompt
# TPM and 36 k generated TPM.
FIREWORKS = ProviderProfile(
    kind="fireworks",
    api_prefix="/inference/v1",
    models={
        "accounts/fireworks/models/gpt-oss-120b": "gpt-oss-120b",
        "accounts/fireworks/models/gpt-oss-20b": "gpt-oss-20b",
    },
    prices={
        "accounts/fireworks/models/gpt-oss-120b": Price(0.15, 0.60),
        "accounts/fireworks/models/gpt-oss-20b": Price(0.07, 0.30),
    },
    reasoning_field="reasoning_content",
    responses_stateful=True,
    tokens_per_s=525.0,
    ttft_s=0.3,
    limits=Limits(tokens=3_600_000, capacity=256),
)

# Together: base https://api.together.xyz/v1; $0.15/$0.60 (serverless page via braintrust-proxy
# #566) and $0.05/$0.20 (Bifrost model library); `reasoning`; no stored responses; limits are
# per second and dynamic. Its speed is not in the captured rankings: 300 t/s is an assumption.
TOGETHER = ProviderProfile(
    kind="together",
    api_prefix="/v1",
    models={"openai/gpt-oss-120b": "gpt-oss-120b", "openai/gpt-oss-20b": "gpt-oss-20b"},
    prices={
        "openai/gpt-oss-120b": Price(0.15, 0.60),
        "openai/gpt-oss-20b": Price(0.05, 0.20),
    },
    reasoning_field="reasoning",
    responses_stateful=False,
    tokens_per_s=300.0,
    ttft_s=0.3,
    limits=Limits(
        requests=60, request_window_s=1.0, tokens=180_000, token_window_s=1.0, capacity=256
    ),
)

# A generic OpenAI-compatible API (e.g. Baseten, DeepInfra); ids, prices and speed are
# illustrative: Baseten's $0.10/$0.50 for 120b (docs.baseten.co) is used as the price.
OPENAI_COMPATIBLE = ProviderProfile(
    kind="openai",
    api_prefix="/v1",
    models={"openai/gpt-oss-120b": "gpt-oss-120b", "openai/gpt-oss-20b": "gpt-oss-20b"},
    prices={
        "openai/gpt-oss-120b": Price(0.10, 0.50),
        "openai/gpt-oss-20b": Price(0.05, 0.20),
    },
    reasoning_field="reasoning",
    responses_stateful=False,
    tokens_per_s=300.0,
    ttft_s=0.3,
    limits=Limits(requests=600, tokens=1_000_000, capacity=256),
)

PROFILES: Mapping[str, ProviderProfile] = {
    "groq": GROQ,
    "fireworks": FIREWORKS,
    "together": TOGETHER,
    "openai": OPENAI_COMPATIBLE,
}
