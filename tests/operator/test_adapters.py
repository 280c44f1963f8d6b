"""Fine-tuned weights and LoRA adapters in what the operator builds: the served name, vLLM's LoRA
flags (checked against vLLM's own parser), adapter volumes, the pod annotation the router reads,
and refusals that name the field (pure builders, no cluster)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.autoscaling.spill import router_samples, spill_for
from gptoss_operator.children.deployment import Owner, PodExtras, build_deployment, vllm_args
from gptoss_operator.errors import InvalidSpec
from gptoss_operator.placement.adapters import (
    ADAPTERS_ANNOTATION,
    LOADED_ANNOTATION,
    lora_limits,
    plan_adapters,
    served_model_name,
    served_names,
)
from gptoss_operator.placement.name_claims import claimed_names, name_taken
from gptoss_operator.placement.serving_args import check_serving_args
from gptoss_operator.placement.sizing import size_spec
from gptoss_operator.placement.weights import plan_weights
from gptoss_operator.reconciling.observe import Observed, view_pod
from gptoss_operator.reconciling.status import compute_status
from gptoss_router.watch.cluster_state import served_name as router_served_name
from gptoss_sim import cli as sim_cli
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_shim import simulator_args
from gptoss_vllmspec import load_cli

OWNER = Owner(name="support", namespace="team-a", uid="0000-1111")
IMAGE = "vllm/vllm-openai:v0.17.0"


def spec(**fields: Any) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, **fields}
    )


def args_of(built: GptOssDeploymentSpec) -> list[str]:
    return vllm_args(built, size_spec(built), plan_weights(OWNER.name, built, image=IMAGE))


def deployment(built: GptOssDeploymentSpec) -> dict[str, Any]:
    return build_deployment(
        OWNER,
        built,
        size_spec(built),
        plan_weights(OWNER.name, built, image=IMAGE),
        replicas=1,
        image=IMAGE,
        extras=PodExtras(annotations={"team": "support"}),
        startup_timeout_seconds=600,
        shm_size="2Gi",
    )


TUNED = {"source": {"uri": "pvc://checkpoints/support-v3"}}
TWO = [
    {"name": "sql", "uri": "hf://acme/gpt-oss-20b-sql-lora", "rank": 16},
    {"name": "legal", "uri": "pvc://adapters/legal/v2", "rank": 48},
]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, "gpt-oss-20b", id="base weights: the base name"),
        pytest.param(
            {"source": {"uri": "hf://openai/gpt-oss-20b"}}, "gpt-oss-20b", id="base checkpoint"
        ),
        pytest.param(TUNED, "support", id="custom weights: the CR's name"),
        pytest.param({**TUNED, "servedModelName": "acme/support-v3"}, "acme/support-v3"),
    ],
)
def test_replicas_are_served_under_the_base_name_only_for_base_weights(
    fields: dict[str, Any], expected: str
) -> None:
    built = spec(**fields)
    assert served_model_name(OWNER.name, built) == expected
    args = args_of(built)
    assert args[args.index("--served-model-name") + 1] == expected
    # The router reads the CR by the same rule.
    wire = built.model_dump(by_alias=True, exclude_none=True)
    assert router_served_name(OWNER.name, wire) == expected


def test_adapters_become_vllms_lora_flags_sized_to_the_largest_rank_and_vllm_accepts_them() -> None:
    built = spec(adapters=TWO)
    args = args_of(built)
    assert "--enable-lora" in args
    assert args[args.index("--max-loras") + 1] == "2"
    # 48 is not one of vLLM's ranks: the next one up.
    assert args[args.index("--max-lora-rank") + 1] == "64"
    start = args.index("--lora-modules") + 1
    assert args[start : start + 2] == [
        "sql=acme/gpt-oss-20b-sql-lora",
        "legal=/adapters/adapter-claim-0/legal/v2",
    ]
    assert check_serving_args(IMAGE, args) is None
    parsed = load_cli().parse(args)
    assert parsed.get("--lora-modules") == args[start : start + 2]
    assert parsed.get("--tool-call-parser") == "openai"


def test_an_adapter_on_a_claim_is_mounted_read_only_and_the_pod_says_which_adapters_it_loads() -> (
    None
):
    built = deployment(spec(adapters=TWO))
    template = built["spec"]["template"]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["adapter-claim-0"]["persistentVolumeClaim"] == {
        "claimName": "adapters",
        "readOnly": True,
    }
    mounts = {m["name"]: m for m in template["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["adapter-claim-0"] == {
        "name": "adapter-claim-0",
        "mountPath": "/adapters/adapter-claim-0",
        "readOnly": True,
    }
    assert template["metadata"]["annotations"] == {
        "team": "support",
        ADAPTERS_ANNOTATION: "sql,legal",
    }


def test_an_adapter_in_a_bucket_is_copied_by_an_init_container_with_its_secret() -> None:
    adapters = [{"name": "sql", "uri": "s3://lora/sql", "rank": 8, "secretName": "lora-s3"}]
    plan = plan_adapters(OWNER.name, spec(adapters=adapters))
    (init,) = plan.init_containers
    assert init["command"][:4] == ["aws", "s3", "sync", "s3://lora/sql"]
    assert init["envFrom"] == [{"secretRef": {"name": "lora-s3"}}]
    assert "sql=/adapters/copied/sql" in plan.args


@pytest.mark.parametrize(
    ("uri", "source", "words"),
    [
        ("hf://acme/private-lora", None, "set it to this Secret"),
        ("hf://acme/private-lora", "hub-token", "spec.source.secretName 'hub-token'; give"),
        ("pvc://loras/sql", None, "a pvc:// adapter is mounted, nothing uses a secret"),
    ],
)
def test_an_adapter_secret_nothing_would_use_is_refused_saying_where_the_token_goes(
    uri: str, source: str | None, words: str
) -> None:
    adapters = [{"name": "sql", "uri": uri, "rank": 8, "secretName": "acme-token"}]
    fields: dict[str, Any] = {"adapters": adapters}
    if source is not None:
        fields["source"] = {"uri": "hf://openai/gpt-oss-20b", "secretName": source}
    with pytest.raises(InvalidSpec, match=r"spec.adapters\[0\].secretName 'acme-token'") as refused:
        plan_adapters(OWNER.name, spec(**fields))
    assert words in str(refused.value)


def test_an_hf_adapter_naming_the_replicas_own_token_is_served_with_it() -> None:
    adapters = [{"name": "sql", "uri": "hf://acme/lora", "rank": 8, "secretName": "hub"}]
    built = spec(adapters=adapters, source={"uri": "hf://openai/gpt-oss-20b", "secretName": "hub"})
    assert "sql=acme/lora" in plan_adapters(OWNER.name, built).args


@pytest.mark.parametrize(
    "weights",
    [
        {"source": {"uri": "pvc://finetunes/gpt-oss-20b-support"}},
        {"cache": {"pvc": {"size": "200Gi"}}},
        {"source": {"uri": "s3://models/gpt-oss-20b"}},
    ],
    ids=["pvc", "cache-claim", "s3"],
)
def test_an_hf_adapter_beside_local_weights_keeps_the_hub_reachable_and_vllm_loads_it(
    weights: dict[str, Any],
) -> None:
    """Local weights switch the hub off, but vLLM downloads an hf:// adapter itself: with
    HF_HUB_OFFLINE its download fails and the server stops at startup."""
    adapters = [{"name": "sql", "uri": "hf://acme/gpt-oss-20b-sql-lora", "rank": 16}]
    built = deployment(spec(**weights, adapters=adapters, servedModelName="support"))
    container = built["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "HF_HUB_OFFLINE" not in env
    assert plan_weights(OWNER.name, spec(**weights), image=IMAGE).env["HF_HUB_OFFLINE"] == "1"
    argv = simulator_args(["serve", *container["args"]], env)
    vllm = sim_cli.build(sim_cli.parser().parse_args(argv), env)
    assert isinstance(vllm, VllmSim)
    vllm.loras.load_static()  # as the server does before it listens
    assert vllm.loras.names() == ("sql",)
    offline = sim_cli.build(sim_cli.parser().parse_args(argv), {**env, "HF_HUB_OFFLINE": "1"})
    assert isinstance(offline, VllmSim)
    with pytest.raises(ValueError, match="No adapter found for acme/gpt-oss-20b-sql-lora"):
        offline.loras.load_static()


def test_loading_adapters_at_run_time_keeps_the_hub_reachable_for_later_hf_adapters() -> None:
    runtime = spec(
        source={"uri": "pvc://finetunes/gpt-oss-20b-support"},
        servedModelName="support",
        adapterLoading="Runtime",
        adapters=[{"name": "legal", "uri": "pvc://adapters/legal", "rank": 16}],
    )
    assert "HF_HUB_OFFLINE" not in plan_weights(OWNER.name, runtime, image=IMAGE).env


def test_without_adapters_no_lora_flag_or_annotation_is_added() -> None:
    built = spec()
    assert "--enable-lora" not in args_of(built)
    assert (
        ADAPTERS_ANNOTATION not in deployment(built)["spec"]["template"]["metadata"]["annotations"]
    )


def test_an_adapter_rank_above_max_lora_rank_is_refused_naming_both_fields() -> None:
    built = spec(adapters=TWO, serving={"maxLoraRank": 32, "maxLoras": 4})
    with pytest.raises(InvalidSpec) as refused:
        lora_limits(built)
    assert str(refused.value).startswith(
        "spec.adapters[1].rank (48, adapter legal) is above spec.serving.maxLoraRank (32)"
    )
    assert lora_limits(spec(adapters=TWO, serving={"maxLoraRank": 64, "maxLoras": 4})) == (4, 64)


def test_an_adapter_named_like_the_served_model_or_another_adapter_is_refused() -> None:
    same = spec(**TUNED, adapters=[{"name": "support", "uri": "hf://a/b", "rank": 8}])
    with pytest.raises(InvalidSpec, match=r"spec.adapters\[0\].name 'support' .* served model"):
        plan_adapters(OWNER.name, same)


def test_a_max_lora_rank_vllm_does_not_offer_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match=r"serving.maxLoraRank\n  Input should be 1, 8, 16, 32"):
        spec(adapters=TWO, serving={"maxLoraRank": 48})


def test_requests_held_for_a_fine_tune_and_its_adapters_are_demand_for_its_cr() -> None:
    registry = CollectorRegistry()
    held = Gauge("gptoss_router_held_requests", "held", ["model"], registry=registry)
    held.labels("support").set(2)
    held.labels("sql").set(3)
    held.labels("gpt-oss-20b").set(40)  # the base model's, another CR's demand
    samples = router_samples(generate_latest(registry).decode())
    built = spec(**TUNED, adapters=[{"name": "sql", "uri": "hf://acme/sql", "rank": 8}])
    names = served_names(OWNER.name, built)
    assert names == frozenset({"support", "sql"})
    assert spill_for(samples, names, "team-a/support").inflight == 5


def pod_json(name: str, adapters: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {ADAPTERS_ANNOTATION: adapters}},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"started": True, "restartCount": 0, "state": {}}],
        },
    }


def test_status_names_the_served_model_and_counts_the_ready_pods_loading_each_adapter() -> None:
    pods = (
        view_pod(pod_json("support-vllm-old", "sql")),
        view_pod(pod_json("support-vllm-new", "sql,legal")),
        view_pod(pod_json("support-vllm-loading", "sql,legal", ready=False)),
    )
    observed = Observed(deployment=None, pods=pods, job=None)
    status = compute_status(
        cr_name="support",
        namespace="team-a",
        generation=1,
        wanted=2,
        sizing=None,
        sizing_error=None,
        observed=observed,
        previous={},
        now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
        served_model_name="support-v3",
        adapters=["sql", "legal"],
    )
    wire = status.model_dump(by_alias=True, exclude_none=True)
    assert wire["servedModelName"] == "support-v3"
    assert wire["adapters"] == [
        {"name": "sql", "readyReplicas": 2, "pods": ["support-vllm-new", "support-vllm-old"]},
        {"name": "legal", "readyReplicas": 1, "pods": ["support-vllm-new"]},
    ]


def test_what_a_pod_lists_in_v1_models_wins_over_what_its_template_says() -> None:
    pod = pod_json("support-vllm-a", "sql,legal")
    pod["metadata"]["annotations"][LOADED_ANNOTATION] = "legal,finance"
    read = view_pod(pod)
    unread = view_pod(pod_json("support-vllm-b", "sql"))
    assert (read.adapters, unread.adapters) == (("legal", "finance"), ("sql",))


def cr_json(name: str, ns: str, created: str, **fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
        "spec": {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, **fields},
    }


def test_a_fine_tune_name_an_older_cr_serves_is_refused_naming_field_and_owner() -> None:
    older = cr_json("support", "team-a", "2026-01-01T00:00:00Z", **TUNED)
    newer = cr_json("support", "team-b", "2026-02-01T00:00:00Z", **TUNED)
    spec_of = GptOssDeploymentSpec.model_validate
    assert name_taken(older, spec_of(older["spec"]), [older, newer]) is None
    refusal = name_taken(newer, spec_of(newer["spec"]), [older, newer])
    assert refusal == (
        "metadata.name (custom weights in spec.source) 'support' is already served by "
        "GptOssDeployment team-a/support, created first: the router serves that name from it "
        "only; choose another name"
    )
    # An adapter named like an older CR's fine-tune.
    lora = cr_json(
        "lora", "team-c", "2026-03-01T00:00:00Z", adapters=[TWO[0], {**TWO[1], "name": "support"}]
    )
    assert name_taken(lora, spec_of(lora["spec"]), [older, lora]) is not None
    assert str(name_taken(lora, spec_of(lora["spec"]), [older, lora])).startswith(
        "spec.adapters[1].name 'support' is already served by GptOssDeployment team-a/support"
    )
    # Base weights under the base name pool with other CRs: nothing to refuse.
    base = cr_json("chat", "team-d", "2026-04-01T00:00:00Z")
    assert claimed_names("chat", spec_of(base["spec"])) == []


def test_custom_weights_under_a_base_models_name_are_refused() -> None:
    with pytest.raises(InvalidSpec, match=r"spec.servedModelName 'gpt-oss-20b' is a base model"):
        plan_adapters(OWNER.name, spec(**TUNED, servedModelName="gpt-oss-20b"))


def test_the_base_checkpoint_under_the_other_base_models_name_is_refused() -> None:
    """Served as gpt-oss-20b, a gpt-oss-120b replica would answer the 20b's clients, and the
    router would spill them to the hosted 20b: two models under one name."""
    big = GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-120b", "gpu": {"product": "H100-80GB"}, "servedModelName": "gpt-oss-20b"}
    )
    with pytest.raises(InvalidSpec, match=r"'gpt-oss-20b' is the other base model's name"):
        plan_adapters(OWNER.name, big)
    same = big.model_copy(update={"served_model_name": "gpt-oss-120b"})
    assert plan_adapters(OWNER.name, same).served_model_name == "gpt-oss-120b"
