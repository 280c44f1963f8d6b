"""Fine-tunes and LoRA adapters read from GptOssDeployments: served names, parents, which pods
hold an adapter, who may spill where, and names claimed twice (no cluster needed)."""

from __future__ import annotations

from typing import Any

from gptoss_router.config.models import ModelConfig
from gptoss_router.config.prices import PriceCap
from gptoss_router.routing.access import App, may_see
from gptoss_router.routing.served_models import ModelTable
from gptoss_router.watch.cluster_state import (
    NO_SPILL,
    ClusterState,
    custom_weights,
    served_name,
)
from gptoss_router.watch.pod_models import listed_adapters


def cr(
    name: str,
    *,
    ns: str = "team-a",
    model: str = "gpt-oss-20b",
    created: str = "2026-01-01T00:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
        "spec": {"model": model, "gpu": {"product": "H100-80GB"}, **spec},
        "status": {"selector": f"gptoss.dev/deployment={name}"},
    }


def pod(name: str, owner: str, ip: str, *, ns: str = "team-a", adapters: str = "") -> Any:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {"gptoss.dev/deployment": owner},
    }
    if adapters:
        meta["annotations"] = {"gptoss.dev/adapters": adapters}
    return {
        "metadata": meta,
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


FINE_TUNE = {"source": {"uri": "pvc://checkpoints/support-v3"}}


def test_base_weights_are_served_under_the_base_name_and_custom_weights_under_the_crs() -> None:
    assert served_name("plain", {"model": "gpt-oss-20b"}) == "gpt-oss-20b"
    hub_base = {"model": "gpt-oss-20b", "source": {"uri": "hf://openai/gpt-oss-20b"}}
    assert served_name("mirror", hub_base) == "gpt-oss-20b" and not custom_weights(hub_base)
    tuned = {"model": "gpt-oss-20b", **FINE_TUNE}
    assert served_name("support", tuned) == "support" and custom_weights(tuned)
    named = {**tuned, "servedModelName": "support-v3"}
    assert served_name("support", named) == "support-v3"


def test_a_fine_tune_is_its_own_model_with_its_base_as_parent_and_never_joins_the_base_pool() -> (
    None
):
    state = ClusterState()
    state.put_deployment(cr("base"))
    state.put_deployment(cr("support", **FINE_TUNE, spillover={"providers": ["groq"]}))
    state.put_pod(pod("base-0", "base", "10.0.0.1"))
    state.put_pod(pod("support-0", "support", "10.0.0.2"))
    served = state.served()
    assert served["gpt-oss-20b"].urls == ["http://10.0.0.1:8000"]
    assert served["support"].urls == ["http://10.0.0.2:8000"]
    assert served["support"].parent == "gpt-oss-20b" and served["gpt-oss-20b"].parent is None
    # Its spillover block applies only to providers listing "support" itself.
    assert served["support"].hosted_as is None


def test_a_fine_tune_may_fall_back_to_the_hosted_base_only_when_its_cr_says_so() -> None:
    state = ClusterState()
    spill = {"providers": ["groq"], "acceptBaseModel": True}
    state.put_deployment(cr("support", **FINE_TUNE, spillover=spill))
    assert state.served()["support"].hosted_as == "gpt-oss-20b"


def test_each_adapter_is_served_only_by_the_pods_that_load_it() -> None:
    state = ClusterState()
    adapters = [{"name": "sql"}, {"name": "legal"}]
    state.put_deployment(cr("lora", adapters=adapters))
    state.put_pod(pod("lora-0", "lora", "10.0.0.1", adapters="sql"))
    state.put_pod(pod("lora-1", "lora", "10.0.0.2", adapters="sql,legal"))
    served = state.served()
    assert served["sql"].urls == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]
    assert served["legal"].urls == ["http://10.0.0.2:8000"]
    assert served["legal"].parent == "gpt-oss-20b"
    assert served["gpt-oss-20b"].urls == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]
    assert served["legal"].spillover == NO_SPILL


def test_a_name_claimed_twice_is_served_by_the_first_deployment_and_the_other_is_named() -> None:
    state = ClusterState()
    state.put_deployment(cr("support", **FINE_TUNE, created="2026-01-01T00:00:00Z"))
    state.put_deployment(cr("support", ns="team-b", **FINE_TUNE, created="2026-02-01T00:00:00Z"))
    served = state.served()
    assert served["support"].deployments == ("team-a/support",)
    (conflict,) = state.conflicts()
    assert str(conflict) == (
        "GptOssDeployment team-b/support: metadata.name (custom weights in spec.source) "
        "'support' is already served by team-a/support; it is not served under that name "
        "until one of them changes it"
    )


def test_custom_weights_under_a_base_name_are_not_served_as_the_base() -> None:
    state = ClusterState()
    state.put_deployment(cr("base"))
    state.put_deployment(cr("sneaky", **FINE_TUNE, servedModelName="gpt-oss-20b"))
    state.put_pod(pod("sneaky-0", "sneaky", "10.0.0.9"))
    served = state.served()
    assert served["gpt-oss-20b"].deployments == ("team-a/base",)
    assert "http://10.0.0.9:8000" not in served["gpt-oss-20b"].urls
    (conflict,) = state.conflicts()
    assert (conflict.field, conflict.name, conflict.holder) == (
        "spec.servedModelName",
        "gpt-oss-20b",
        "team-a/base",
    )


def test_an_adapter_named_like_another_deployments_model_is_named_by_its_index() -> None:
    state = ClusterState()
    state.put_deployment(cr("support", **FINE_TUNE))
    state.put_deployment(
        cr("lora", created="2026-03-01T00:00:00Z", adapters=[{"name": "x"}, {"name": "support"}])
    )
    assert "x" in state.served()
    (conflict,) = state.conflicts()
    assert (conflict.deployment, conflict.field) == ("team-a/lora", "spec.adapters[1].name")


def test_base_deployments_in_several_namespaces_pool_and_remember_each_pods_namespace() -> None:
    state = ClusterState()
    state.put_deployment(cr("base", ns="team-a"))
    state.put_deployment(cr("base", ns="team-b"))
    state.put_pod(pod("a-0", "base", "10.0.0.1", ns="team-a"))
    state.put_pod(pod("b-0", "base", "10.0.0.2", ns="team-b"))
    base = state.served()["gpt-oss-20b"]
    assert base.namespaces == frozenset({"team-a", "team-b"})
    assert base.namespace_of == {"http://10.0.0.1:8000": "team-a", "http://10.0.0.2:8000": "team-b"}


def test_the_model_table_carries_parent_fallback_and_namespaces_and_apps_see_only_theirs() -> None:
    table = ModelTable({})
    table.discovered(
        {"support": NO_SPILL},
        lineage={"support": ("gpt-oss-20b", "gpt-oss-20b", frozenset({"team-b"}))},
    )
    config = table.get("support")
    assert config is not None
    assert (config.parent, config.hosted_as) == ("gpt-oss-20b", "gpt-oss-20b")
    only_a = App("a", frozenset(), False, True, True, PriceCap(), frozenset({"team-a"}))
    everywhere = App("b", frozenset(), False, True, True, PriceCap())
    assert not may_see(only_a, config) and may_see(everywhere, config)
    # A model listed in the configuration file (no namespace) is for every app.
    assert may_see(only_a, ModelConfig())


def test_an_adapter_goes_to_the_pods_whose_v1_models_list_it_over_their_annotation() -> None:
    adapters = [{"name": "sql", "uri": "hf://a/sql", "rank": 8}]
    state = ClusterState()
    state.put_deployment(cr("support", **FINE_TUNE, adapters=adapters, adapterLoading="Runtime"))
    state.put_pod(pod("support-0", "support", "10.0.0.1"))  # run time: no annotation
    state.put_pod(pod("support-1", "support", "10.0.0.2", adapters="sql"))
    state.put_pod(pod("support-2", "support", "10.0.0.3"))
    assert state.adapter_pod_urls() == {f"http://10.0.0.{i}:8000" for i in (1, 2, 3)}
    unread = state.served()
    assert unread["sql"].urls == ["http://10.0.0.2:8000"]  # the annotation, until read
    listed = {
        "http://10.0.0.1:8000": frozenset({"sql"}),
        "http://10.0.0.2:8000": frozenset(),  # unloaded since the pod started
    }
    assert state.served(listed)["sql"].urls == ["http://10.0.0.1:8000"]


def test_v1_models_name_the_adapters_by_their_parent() -> None:
    body = {
        "data": [
            {"id": "support", "parent": None},
            {"id": "sql", "parent": "support"},
        ]
    }
    assert listed_adapters(body) == frozenset({"sql"})
    assert listed_adapters({"detail": "Not Found"}) is None
