"""Operator upgrades: a pod template change no CR asked for is told apart from one it did
(pure; the cluster behaviour is in ``test_rollout_cluster.py``)."""

from __future__ import annotations

from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.reconciling.upgrades import (
    SPEC_HASH,
    TEMPLATE_HASH,
    annotate,
    operator_caused,
    spec_hash,
    with_live_template,
)

SPEC = GptOssDeploymentSpec.model_validate(
    {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
)


def _deployment(shm: str, digest: str, replicas: int = 1) -> dict[str, Any]:
    body = {
        "metadata": {"name": "chat-vllm", "annotations": {}},
        "spec": {"replicas": replicas, "template": {"spec": {"volumes": [{"sizeLimit": shm}]}}},
    }
    return annotate(body, spec_digest=digest)


def test_a_new_builder_for_an_unchanged_cr_is_the_operators_change() -> None:
    digest = spec_hash(SPEC, "img:1")
    live, desired = _deployment("16Gi", digest), _deployment("32Gi", digest)
    assert operator_caused(live, desired)
    assert not operator_caused(live, _deployment("16Gi", digest))  # nothing changes


def test_a_change_the_cr_asked_for_is_never_held_back() -> None:
    live = _deployment("16Gi", spec_hash(SPEC, "img:1"))
    edited = SPEC.model_copy(
        update={"serving": SPEC.serving.model_copy(update={"max_num_seqs": 8})}
    )
    assert not operator_caused(live, _deployment("32Gi", spec_hash(edited, "img:1")))
    assert not operator_caused(live, _deployment("32Gi", spec_hash(SPEC, "img:2")))
    # replicas and autoscaling never touch the pods
    scaled = SPEC.model_copy(update={"replicas": 5})
    assert spec_hash(scaled, "img:1") == spec_hash(SPEC, "img:1")


def test_a_deployment_scaled_to_zero_or_from_an_older_operator() -> None:
    digest = spec_hash(SPEC, "img:1")
    assert not operator_caused(_deployment("16Gi", digest, replicas=0), _deployment("32Gi", digest))
    legacy = {"metadata": {"name": "chat-vllm"}, "spec": {"replicas": 1, "template": {}}}
    assert operator_caused(legacy, _deployment("32Gi", digest))


def test_a_held_back_change_keeps_the_live_template_and_its_hashes() -> None:
    digest = spec_hash(SPEC, "img:1")
    live, desired = _deployment("16Gi", digest), _deployment("32Gi", digest)
    desired["spec"]["replicas"] = 3
    waiting = with_live_template(live, desired)
    assert waiting["spec"]["template"] == live["spec"]["template"]
    assert waiting["spec"]["replicas"] == 3  # scaling still applies
    kept = waiting["metadata"]["annotations"]
    assert (kept[TEMPLATE_HASH], kept[SPEC_HASH]) == (
        live["metadata"]["annotations"][TEMPLATE_HASH],
        digest,
    )
    assert operator_caused(waiting, desired)  # still pending on the next reconcile


def test_a_held_back_change_of_an_older_operators_deployment_stays_held_back() -> None:
    """A Deployment made before the hashes existed has none; waiting, it is given none, so the
    next reconcile still sees the operator's change, not the CR's, and keeps it waiting."""
    digest = spec_hash(SPEC, "img:1")
    legacy = {"metadata": {"name": "chat-vllm"}, "spec": {"replicas": 1, "template": {}}}
    desired = _deployment("32Gi", digest)
    waiting = with_live_template(legacy, desired)
    assert TEMPLATE_HASH not in waiting["metadata"]["annotations"]
    assert SPEC_HASH not in waiting["metadata"]["annotations"]
    assert operator_caused(waiting, desired)
