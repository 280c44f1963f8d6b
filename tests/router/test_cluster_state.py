"""Reading GptOssDeployments and pods into pools and spillover policies (no cluster needed)."""

from __future__ import annotations

from typing import Any

from gptoss_router.config.models import ModelConfig, SpillCondition, SpilloverConfig
from gptoss_router.config.prices import PriceCap
from gptoss_router.routing.served_models import ModelTable
from gptoss_router.watch.cluster_state import (
    NO_SPILL,
    ClusterState,
    parse_selector,
    pod_url,
    read_deployment,
    strictest,
)


def deployment(
    name: str, model: str = "gpt-oss-120b", *, ns: str = "ml", spillover: Any = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": model, "gpu": {"product": "H100"}}
    if spillover is not None:
        spec["spillover"] = spillover
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
        "status": {"selector": f"gptoss.dev/deployment={name}"},
    }


def pod(
    name: str, owner: str, ip: str, *, ns: str = "ml", ready: bool = True, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {"gptoss.dev/deployment": owner},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_the_operators_selector_reads_as_labels_and_set_based_ones_are_refused() -> None:
    assert parse_selector("gptoss.dev/deployment=big") == {"gptoss.dev/deployment": "big"}
    assert parse_selector("a==b,c=d") == {"a": "b", "c": "d"}
    assert parse_selector("env in (a,b)") is None and parse_selector("a!=b") is None
    assert parse_selector(None) is None


def test_only_running_ready_pods_not_being_deleted_are_backends() -> None:
    assert pod_url(pod("p", "d", "127.9.0.4")) == "http://127.9.0.4:8000"
    assert pod_url(pod("p", "d", "127.9.0.4", ready=False)) is None
    assert pod_url(pod("p", "d", "127.9.0.4", deleting=True)) is None
    assert pod_url({"status": {"phase": "Pending"}}) is None


def test_a_deployment_without_a_spillover_block_keeps_requests_in_the_cluster() -> None:
    found = read_deployment(deployment("big"))
    assert found is not None and found.spillover == NO_SPILL
    assert found.spillover.providers == frozenset()


def test_the_spillover_block_becomes_the_models_policy() -> None:
    block = {
        "providers": ["groq", "together"],
        "maxPricePerMillionTokens": {"input": 0.2, "output": 0.8},
        "when": ["Saturated", "ScaledToZero"],
    }
    found = read_deployment(deployment("big", spillover=block))
    assert found is not None
    assert found.spillover == SpilloverConfig(
        providers=frozenset({"groq", "together"}),
        max_price=PriceCap(input=0.2, output=0.8),
        when=frozenset({SpillCondition.SATURATED, SpillCondition.SCALED_TO_ZERO}),
    )


def test_deployments_of_one_model_allow_only_what_they_all_allow() -> None:
    a = SpilloverConfig(providers=frozenset({"groq", "together"}), max_price=PriceCap(output=1.0))
    b = SpilloverConfig(
        providers=None,
        max_price=PriceCap(input=0.1, output=0.6),
        when=frozenset({SpillCondition.SATURATED}),
    )
    both = strictest([a, b])
    assert both.providers == frozenset({"groq", "together"})
    assert both.max_price == PriceCap(input=0.1, output=0.6)
    assert both.when == frozenset({SpillCondition.SATURATED})
    assert strictest([a, NO_SPILL]).providers == frozenset()


def test_pods_join_the_deployment_whose_selector_they_match_in_its_namespace() -> None:
    state = ClusterState()
    state.put_deployment(deployment("big"))
    state.put_deployment(deployment("small", "gpt-oss-20b"))
    state.put_pod(pod("big-1", "big", "127.9.0.2"))
    state.put_pod(pod("big-0", "big", "127.9.0.1"))
    state.put_pod(pod("small-0", "small", "127.9.0.3", ready=False))
    state.put_pod(pod("elsewhere", "big", "127.9.0.9", ns="other"))
    served = state.served()
    assert served["gpt-oss-120b"].urls == ["http://127.9.0.1:8000", "http://127.9.0.2:8000"]
    assert served["gpt-oss-20b"].urls == []
    state.drop_pod(pod("big-0", "big", "127.9.0.1"))
    state.drop_deployment(deployment("small", "gpt-oss-20b"))
    assert {m: s.urls for m, s in state.served().items()} == {
        "gpt-oss-120b": ["http://127.9.0.2:8000"]
    }


def test_a_relist_replaces_what_was_known_in_that_namespace_only() -> None:
    state = ClusterState()
    state.put_pod(pod("a", "big", "127.9.0.1"))
    state.put_pod(pod("b", "big", "127.9.0.2", ns="other"))
    state.reset("pods", "ml", [pod("c", "big", "127.9.0.3")])
    state.reset("deployments", None, [deployment("big"), deployment("big", ns="other")])
    assert state.served()["gpt-oss-120b"].urls == [
        "http://127.9.0.2:8000",
        "http://127.9.0.3:8000",
    ]


def test_a_discovered_model_takes_the_clusters_policy_and_keeps_its_configured_knobs() -> None:
    configured = ModelConfig.model_validate(
        {
            "local": {"max_queue_depth": 9},
            "spillover": {"providers": ["groq"], "latency_target_s": 5},
        }
    )
    table = ModelTable({"gpt-oss-120b": configured})
    table.discovered({"gpt-oss-120b": NO_SPILL, "gpt-oss-20b": NO_SPILL})
    big = table.get("gpt-oss-120b")
    assert big is not None and big.local.max_queue_depth == 9
    assert big.spillover.providers == frozenset() and big.spillover.latency_target_s == 5
    assert table.names() == ["gpt-oss-120b", "gpt-oss-20b"]
    table.discovered({})
    assert table.get("gpt-oss-120b") == configured and "gpt-oss-20b" not in table
