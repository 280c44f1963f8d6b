"""``spec.adapterLoading: Runtime``: the pod template stays put while ``spec.adapters`` changes,
and the loader's decisions (``gptoss_operator.loading.decide``) bring each pod to the list."""

from __future__ import annotations

from typing import Any

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.errors import InvalidAdapters
from gptoss_operator.loading.decide import Change, PodAdapters, changes, listed_adapters
from gptoss_operator.placement.adapters import (
    ADAPTERS_ANNOTATION,
    RUNTIME_UPDATING_ENV,
    adapter_paths,
    plan_adapters,
)
from tests.operator.test_adapters import args_of, deployment

SQL = {"name": "sql", "uri": "hf://acme/gpt-oss-20b-sql-lora", "rank": 16}
LEGAL = {"name": "legal", "uri": "pvc://adapters/legal/v2", "rank": 8}


def runtime(*adapters: dict[str, Any], **serving: Any) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(
        {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB"},
            "adapterLoading": "Runtime",
            "adapters": list(adapters),
            "serving": serving,
        }
    )


def template(built: GptOssDeploymentSpec) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(built)["spec"]["template"]
    return spec


def test_adding_or_removing_an_hf_adapter_at_run_time_changes_no_pod_template() -> None:
    assert template(runtime()) == template(runtime(SQL))
    on_claim = template(runtime(LEGAL))
    assert template(runtime(LEGAL, SQL)) == on_claim  # the claim stays mounted


def test_run_time_replicas_allow_runtime_updates_with_vllms_default_slots_and_no_modules() -> None:
    built = runtime(SQL, LEGAL)
    args = args_of(built)
    assert "--lora-modules" not in args
    at = args.index("--enable-lora")
    assert args[at : at + 5] == ["--enable-lora", "--max-loras", "1", "--max-lora-rank", "16"]
    pod = template(built)
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env[RUNTIME_UPDATING_ENV] == "True"
    assert ADAPTERS_ANNOTATION not in pod["metadata"]["annotations"]


def test_run_time_paths_are_the_repository_id_and_the_mounted_claim() -> None:
    built = runtime(SQL, LEGAL, maxLoras=2)
    claim = plan_adapters("support", built).mounts[0]["mountPath"]
    assert adapter_paths("support", built) == {
        "sql": "acme/gpt-oss-20b-sql-lora",
        "legal": f"{claim}/legal/v2",
    }


def test_a_bucket_adapter_is_refused_at_run_time_naming_the_field() -> None:
    bucket = {"name": "fin", "uri": "s3://acme/fin", "rank": 8}
    with pytest.raises(InvalidAdapters, match=r"spec.adapters\[1\].uri 's3://acme/fin'"):
        plan_adapters("support", runtime(SQL, bucket))


WANTED = {"sql": "acme/sql", "legal": "/adapters/legal"}


def test_a_pod_loads_what_it_lacks_and_unloads_what_is_no_longer_wanted_unloads_first() -> None:
    pod = PodAdapters("p-0", "http://10.0.0.1:8000", {"finance": "acme/fin", "sql": "acme/sql"})
    assert changes(WANTED, [pod]) == [
        Change("p-0", pod.url, "unload", "finance"),
        Change("p-0", pod.url, "load", "legal", "/adapters/legal"),
    ]


def test_an_adapter_whose_path_changed_is_reloaded_in_place() -> None:
    pod = PodAdapters("p-0", "http://10.0.0.1:8000", {"sql": "acme/sql-v1"})
    (sql, legal) = changes(WANTED, [pod])
    assert (sql.adapter, sql.inplace, sql.body()) == (
        "sql",
        True,
        {"lora_name": "sql", "lora_path": "acme/sql", "load_inplace": True},
    )
    assert legal.body() == {"lora_name": "legal", "lora_path": "/adapters/legal"}


def test_a_pod_not_read_gets_nothing_and_a_pod_in_step_gets_nothing() -> None:
    unread = PodAdapters("p-0", "http://10.0.0.1:8000", None)
    done = PodAdapters("p-1", "http://10.0.0.2:8000", dict(WANTED))
    assert changes(WANTED, [unread, done]) == []


def test_models_list_adapters_by_their_parent_in_vllms_order() -> None:
    body = {
        "object": "list",
        "data": [
            {"id": "support-v3", "root": "/models/support", "parent": None},
            {"id": "sql", "root": "acme/sql", "parent": "support-v3"},
            {"id": "legal", "root": "/adapters/legal", "parent": "support-v3"},
        ],
    }
    assert list(listed_adapters(body) or {}) == ["sql", "legal"]
    assert listed_adapters({"error": {"message": "x"}}) is None
