"""What the benchmarked gateways run with: the model and key, the CPUs they are pinned to, the
router's and LiteLLM's configurations and the environment each starts in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "CLIENT_CPU",
    "GATEWAY_CPU",
    "KEY",
    "LITELLM_ENV",
    "MODEL",
    "REPO",
    "base_environment",
    "gptoss_config",
    "litellm_config",
]

REPO = Path(__file__).resolve().parents[2]
MODEL = "gpt-oss-120b"
KEY = "sk-bench-0123456789abcdef"
GATEWAY_CPU, CLIENT_CPU = 1, 0

LITELLM_ENV = {
    "LITELLM_LOG": "ERROR",  # its production guide: turn FastAPI's info logs off
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map from the internet
}


def base_environment() -> dict[str, str]:
    """This environment less anything that would reconfigure either gateway behind our back."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GPTOSS_ROUTER_", "LITELLM"))}


def gptoss_config(
    port: int, upstream: int, *, store_url: str | None = None, store_password: str = ""
) -> dict[str, Any]:
    app: dict[str, Any] = {"name": "bench", "key": KEY}
    extra: dict[str, Any] = {}
    if store_url is not None:
        app["limits"] = {
            "requests_per_minute": 100_000_000,
            "tokens_per_minute": 10_000_000_000,
            "dollars_per_day": 1_000_000.0,
            "dollars_per_month": 10_000_000.0,
        }
        extra["store"] = {"url": store_url, "key": store_password}
    return {
        **extra,
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "models": {
            MODEL: {
                "local": {
                    "pods": [f"http://127.0.0.1:{upstream}"],
                    "scrape": False,
                    # above the largest concurrency, so admission never sheds the load
                    "max_inflight": 4096,
                }
            }
        },
        "apps": [app],
    }


def litellm_config(upstream: int) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": f"http://127.0.0.1:{upstream}/v1",
                    "api_key": "fake-key",
                },
            }
        ],
        "general_settings": {
            "master_key": KEY,
            "disable_spend_logs": True,
            "disable_error_logs": True,
        },
        "litellm_settings": {
            "request_timeout": 600,
            "set_verbose": False,
            "json_logs": True,
        },
    }
