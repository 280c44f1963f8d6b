"""The chart hands the Cost policy its prices: GPU prices and their billing period from
operator.gpuHourlyPrices and operator.gpuBillingSeconds, and the router's provider table
mirrored from router.config.providers, the same numbers the router's own configuration
carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gptoss_operator.settings import OperatorSettings
from tests.chart.helm import CHART, Tool, one, render

VALUES = {
    "operator": {"gpuHourlyPrices": {"H100-80GB": 2.1, "L4": 0.4}, "gpuBillingSeconds": 3600},
    "router": {
        "keys": {"existingSecret": "provider-keys"},
        "config": {
            "providers": [
                {
                    "name": "groq",
                    "kind": "groq",
                    "base_url": "https://api.groq.com/openai/v1",
                    "secretKey": "groq",
                    "models": {
                        "gpt-oss-120b": {
                            "id": "openai/gpt-oss-120b",
                            "price": {"input": 0.15, "output": 0.6},
                        },
                        "gpt-oss-20b": {
                            "id": "openai/gpt-oss-20b",
                            "price": {"input": 0.075, "output": 0.3},
                        },
                    },
                },
                {
                    "name": "together",
                    "kind": "together",
                    "base_url": "https://api.together.xyz/v1",
                    "secretKey": "together",
                    "models": {
                        "gpt-oss-20b": {
                            "id": "openai/gpt-oss-20b",
                            "price": {"input": 0.05, "output": 0.2},
                        }
                    },
                },
            ]
        },
    },
}


def _settings(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if variable["name"] in (
            "GPTOSS_OPERATOR_GPU_HOURLY_PRICES",
            "GPTOSS_OPERATOR_PROVIDER_PRICES",
            "GPTOSS_OPERATOR_GPU_BILLING_SECONDS",
        ):
            monkeypatch.setenv(variable["name"], variable["value"])
    return OperatorSettings()


def test_the_operator_gets_the_routers_provider_prices_and_the_gpu_prices(
    helm: Tool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    docs = render(helm, values)
    settings = _settings(one(docs, "Deployment", "-operator"), monkeypatch)
    assert settings.gpu_hourly_prices == {"H100-80GB": 2.1, "L4": 0.4}
    assert settings.gpu_billing_seconds == 3600
    router_yaml = yaml.safe_load(one(docs, "ConfigMap", "-router")["data"]["router.yaml"])
    mirrored = {
        p["name"]: {m: (e["price"]["input"], e["price"]["output"]) for m, e in p["models"].items()}
        for p in router_yaml["providers"]
    }
    assert settings.hosted_price_table == mirrored
    assert mirrored["together"] == {"gpt-oss-20b": (0.05, 0.2)}


def test_without_providers_or_gpu_prices_the_operator_keeps_its_list_prices(
    helm: Tool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(one(render(helm), "Deployment", "-operator"), monkeypatch)
    assert settings.provider_prices is None
    assert settings.gpu_hourly_prices == {}
    assert settings.gpu_billing_seconds == 1


def test_a_gpu_price_for_an_unknown_product_is_refused_by_the_charts_schema(helm: Tool) -> None:
    refused = helm("template", "gptoss", str(CHART), "--set", "operator.gpuHourlyPrices.Z100=3")
    assert refused.returncode != 0
    assert "Z100" in refused.stderr
