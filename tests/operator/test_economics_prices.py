"""Where the cost policy's numbers come from: capacity priors per model, GPU and tensor parallel
size; GPU prices from the CR, the operator or a list; hosted prices from the router's provider
table under the CR's spillover; and the sentence that explains a decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.capacity_priors import (
    TARGET_TPOT_S,
    at_target_tpot,
    capacity_prior,
)
from gptoss_operator.autoscaling.economics import Demand
from gptoss_operator.autoscaling.governor import CostGovernor
from gptoss_operator.autoscaling.policies import cost_policy
from gptoss_operator.autoscaling.prices import DEFAULT_GPU_HOURLY_PRICE
from gptoss_operator.autoscaling.readings import newest_age_s
from gptoss_operator.autoscaling.signals import DemandMeter
from gptoss_operator.autoscaling.spill import RouterSpill
from gptoss_operator.settings import OperatorSettings

TABLE = {
    "groq": {"gpt-oss-120b": (0.15, 0.60), "gpt-oss-20b": (0.075, 0.30)},
    "fireworks": {"gpt-oss-120b": (0.15, 0.60)},
    "pricey": {"gpt-oss-120b": (0.50, 2.00)},
}


def _spec(**autoscaling: Any) -> GptOssDeploymentSpec:
    spill = autoscaling.pop("spillover", {"providers": ["groq", "fireworks", "pricey"]})
    return GptOssDeploymentSpec.model_validate(
        {
            "model": "gpt-oss-120b",
            "gpu": {"product": "H100-80GB"},
            "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "policy": "Cost", **autoscaling},
            "spillover": spill,
        }
    )


def test_a_rate_measured_slower_per_request_than_the_target_is_lowered_never_raised() -> None:
    assert at_target_tpot(1000.0, TARGET_TPOT_S) == 1000.0
    assert at_target_tpot(1000.0, 0.030) == 1000.0
    slower = at_target_tpot(1000.0, 0.100)
    # (50 - 5.5) / 50 = 0.89 against (100 - 5.5) / 100 = 0.945
    assert slower == pytest.approx(1000.0 * 0.89 / 0.945)


def test_the_120b_prior_on_two_h100s_is_twice_one_gpus_published_share() -> None:
    # GPUStack: 6,095 total tokens/s at 54.1 ms per output token on one H100; half are output.
    one_gpu = 6095.37 / 2 * (0.89 / ((54.1 - 5.5) / 54.1))
    assert capacity_prior("gpt-oss-120b", "H100-80GB", 1) == pytest.approx(one_gpu, rel=1e-3)
    assert capacity_prior("gpt-oss-120b", "H100-80GB", 2) == pytest.approx(2 * one_gpu, rel=1e-3)


def test_an_unknown_model_or_a_zero_tensor_parallel_size_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no capacity prior for gpt-oss-999b"):
        capacity_prior("gpt-oss-999b", "H100-80GB", 1)
    # a product without a figure of its own starts from the H100's, per GPU
    assert capacity_prior("gpt-oss-120b", "H200", 2) == capacity_prior(
        "gpt-oss-120b", "H100-80GB", 2
    )
    with pytest.raises(ValueError, match="at least 1, got 0"):
        capacity_prior("gpt-oss-120b", "H100-80GB", 0)


def test_with_default_prices_the_120b_prior_on_h100_is_above_its_break_even() -> None:
    policy = cost_policy(_spec())
    assert policy is not None
    assert policy.gpus == 2
    assert policy.prices.replica_hourly == pytest.approx(2 * 2.69)
    prices, _ = policy.priced(2.0)
    break_even = prices.replica_hourly / (3600 * prices.per_output_token(2.0))
    assert policy.capacity_prior > 2 * break_even


def test_the_gpu_price_comes_from_the_cr_then_the_operator_then_the_list() -> None:
    listed = cost_policy(_spec())
    operator = cost_policy(_spec(), gpu_prices={"H100-80GB": 1.25})
    cr = cost_policy(_spec(gpuHourlyPrice=0.5), gpu_prices={"H100-80GB": 1.25})
    assert listed is not None and operator is not None and cr is not None
    assert listed.gpu_hourly == DEFAULT_GPU_HOURLY_PRICE["H100-80GB"]
    assert operator.gpu_hourly == 1.25
    assert cr.gpu_hourly == 0.5


def test_the_overflow_is_priced_at_the_cheapest_provider_within_the_cap() -> None:
    capped = _spec(spillover={"maxPricePerMillionTokens": {"output": 1.0}})
    policy = cost_policy(capped, provider_prices=TABLE)
    assert policy is not None and policy.may_spill
    assert {q.provider for q in policy.quotes} == {"groq", "fireworks"}
    _, provider = policy.priced(2.0)
    assert provider == "fireworks"  # the same price as groq: by name


def test_only_the_providers_the_cr_allows_and_that_serve_the_model_are_admitted() -> None:
    policy = cost_policy(_spec(spillover={"providers": ["pricey"]}), provider_prices=TABLE)
    assert policy is not None
    prices, provider = policy.priced(1.0)
    assert (provider, prices.output_per_million) == ("pricey", 2.00)


def test_no_admissible_provider_means_the_replicas_must_carry_everything() -> None:
    capped = _spec(spillover={"maxPricePerMillionTokens": {"output": 0.1}})
    policy = cost_policy(capped, provider_prices=TABLE)
    assert policy is not None and not policy.may_spill
    wish = CostGovernor().decide(
        0.0, Demand(7000.0, 1.0), current=0, capacity=policy.capacity_prior, policy=policy
    )
    assert (wish.replicas, wish.reason) == (2, "LatencyBound")
    assert wish.message.startswith("2 replicas needed to carry the demand: nothing may spill")


def test_the_crs_hosted_price_overrides_its_side_of_every_provider() -> None:
    policy = cost_policy(_spec(hostedPricePerMillionTokens={"output": 0.9}), provider_prices=TABLE)
    assert policy is not None
    prices, provider = policy.priced(1.0)
    assert (provider, prices.input_per_million, prices.output_per_million) == (
        "fireworks",
        0.15,
        0.9,
    )


def test_hosted_below_the_break_even_says_so_with_the_gpus_and_the_provider() -> None:
    policy = cost_policy(_spec(), provider_prices=TABLE)
    assert policy is not None
    wish = CostGovernor().decide(
        0.0, Demand(310.0, 1.0), current=0, capacity=policy.capacity_prior, policy=policy
    )
    # 2 x 2.69 / (3600 x (0.60 + 0.15) / 1e6) = 1,993 tokens/s
    assert wish.reason == "Cheapest"
    assert wish.message.startswith(
        "hosted is cheaper: demand 310 tok/s, break-even 1,993 tok/s for 2 x H100-80GB at "
        "$2.69/h against fireworks at $0.15/$0.6 per M tokens; "
    )


def test_the_operator_reads_the_provider_table_and_gpu_prices_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPTOSS_OPERATOR_GPU_HOURLY_PRICES", '{"H100-80GB": 2.0}')
    monkeypatch.setenv(
        "GPTOSS_OPERATOR_PROVIDER_PRICES",
        '{"groq": {"gpt-oss-120b": {"input": 0.15, "output": 0.6}}}',
    )
    settings = OperatorSettings()
    assert settings.gpu_hourly_prices == {"H100-80GB": 2.0}
    assert settings.hosted_price_table == {"groq": {"gpt-oss-120b": (0.15, 0.6)}}


def test_a_negative_price_in_the_operators_settings_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPTOSS_OPERATOR_GPU_HOURLY_PRICES", '{"H100-80GB": -1}')
    with pytest.raises(ValueError, match=r"gpu_hourly_prices\['H100-80GB'\] must be >= 0, got -1"):
        OperatorSettings()
    monkeypatch.delenv("GPTOSS_OPERATOR_GPU_HOURLY_PRICES")
    monkeypatch.setenv(
        "GPTOSS_OPERATOR_PROVIDER_PRICES", '{"groq": {"gpt-oss-120b": {"input": -1, "output": 1}}}'
    )
    with pytest.raises(ValueError, match=r"provider_prices\.groq\.gpt-oss-120b\.input"):
        OperatorSettings()


@pytest.mark.parametrize("times_break_even", [1.1, 2.0])
def test_with_the_defaults_steady_demand_above_break_even_buys_within_two_cold_starts(
    times_break_even: float,
) -> None:
    # gpt-oss-120b on 2 x H100 at list prices, replies as long as prompts: a replica pays above
    # 5.38 / (3600 x 0.75e-6) = 1,993 output tokens/s. The router spills requests of 1,000
    # output tokens from t = 0, as the meter reads them once a second.
    policy = cost_policy(_spec())
    assert policy is not None
    cold_start = policy.cold_start_s
    assert cold_start == 180.0  # the CRD's default
    rate = times_break_even * 1993.0 / 1000.0  # requests/s
    meter, governor = DemandMeter(), CostGovernor()
    bought = None
    for second in range(0, int(2 * cold_start) + 1):
        served = rate * second
        spill = RouterSpill(
            0,
            int(served),
            hosted_requests=served,
            hosted_input_tokens=1000 * served,
            hosted_output_tokens=1000 * served,
        )
        meter.observe(float(second), {}, spill)
        demand = Demand(meter.tokens_per_s, meter.input_per_output, meter.unserved_tokens_per_s)
        wish = governor.decide(
            float(second), demand, current=0, capacity=policy.capacity_prior, policy=policy
        )
        if wish.replicas == 1:
            bought = second
            break
    assert bought is not None, wish.message
    assert bought <= 2 * cold_start
    assert wish.reason == "LocalCheaper"


def test_the_newest_pods_age_is_read_from_its_creation_time() -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)
    pods: list[dict[str, Any]] = [
        {"metadata": {"creationTimestamp": "2026-11-30T11:00:00Z"}},
        {"metadata": {"creationTimestamp": "2026-11-30T11:50:00Z"}},
        {"metadata": {"creationTimestamp": "2026-11-30T11:59:00Z", "deletionTimestamp": "x"}},
    ]
    assert newest_age_s(pods, now) == 600.0
    assert newest_age_s([], now) is None


def test_the_operator_reads_the_gpu_billing_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTOSS_OPERATOR_GPU_BILLING_SECONDS", "3600")
    settings = OperatorSettings()
    policy = cost_policy(_spec(), billing_s=settings.gpu_billing_seconds)
    assert policy is not None
    assert (policy.billing_s, policy.commitment_s) == (3600.0, 3600.0)
    monkeypatch.setenv("GPTOSS_OPERATOR_GPU_BILLING_SECONDS", "0.5")
    with pytest.raises(ValueError, match="gpu_billing_seconds"):
        OperatorSettings()


def test_a_cost_policy_is_priced_even_when_its_adapters_are_refused() -> None:
    # vLLM would refuse the rank-64 adapter (maxLoraRank 32); the reconcile reports that, and
    # the autoscaler still prices the replica, on the GPUs the spec names.
    body = _spec().model_dump(by_alias=True, exclude_none=True)
    body["gpu"]["count"] = 2
    body["serving"] = {"maxLoraRank": 32}
    body["adapters"] = [{"name": "wide", "uri": "hf://acme/wide", "rank": 64}]
    policy = cost_policy(GptOssDeploymentSpec.model_validate(body))
    assert policy is not None and policy.gpus == 2
