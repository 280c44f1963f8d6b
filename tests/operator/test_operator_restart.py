"""Restarting the operator on a settled GptOssDeployment writes nothing to its children or its
status: every write the API server recorded after the restart is counted from its audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gptoss_localkube.cluster import ClusterInfo
from tests.operator.audit import CHILDREN, writes_since
from tests.operator.conftest import Kubectl
from tests.operator.gptoss_crd import GROUP, PLURAL, VERSION, manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually


def _settled(api_client: client.ApiClient, namespace: str) -> bool:
    cr: dict[str, Any] = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "steady"
    )
    reasons = {c["type"]: c["reason"] for c in cr.get("status", {}).get("conditions", [])}
    return reasons.get("Ready") == "Serving" and reasons.get("Progressing") == "Complete"


def _resyncs(log: Path) -> int:
    return log.read_text().count("resync: ") if log.exists() else 0


def test_restarting_the_operator_makes_no_writes_when_nothing_changed(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "replicas": 2}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    env = {"GPTOSS_OPERATOR_RESYNC_SECONDS": "2"}
    with operator_running(cluster.kubeconfig, first_log, **env):
        assert kubectl.apply(namespace, manifest("steady", spec)).returncode == 0
        eventually(lambda: _settled(api_client, namespace), timeout=90, what="a settled CR")
        settled_at = _resyncs(first_log)
        eventually(lambda: _resyncs(first_log) >= settled_at + 2, timeout=30, what="two resyncs")
        first_writes = [
            w for w in writes_since(cluster.audit_log, 0)
            if w.namespace == namespace and w.user_agent.startswith("gptoss-operator")
        ]  # fmt: skip
        assert any(w.resource == "deployments" for w in first_writes)

    offset = cluster.audit_log.stat().st_size
    with operator_running(cluster.kubeconfig, second_log, **env):
        eventually(lambda: "on_change" in second_log.read_text(), timeout=60, what="the resume")
        eventually(lambda: _resyncs(second_log) >= 2, timeout=60, what="two resyncs after it")
        assert _settled(api_client, namespace)

    operator_writes = [
        w for w in writes_since(cluster.audit_log, offset)
        if w.namespace == namespace
        and (w.user_agent.startswith("gptoss-operator") or w.user_agent.startswith("kopf"))
    ]  # fmt: skip
    to_children_or_status = [
        w for w in operator_writes
        if w.resource in CHILDREN or (w.resource == PLURAL and w.subresource == "status")
    ]  # fmt: skip
    assert to_children_or_status == [], "\n".join(map(str, to_children_or_status))
    if operator_writes:
        pytest.fail("the operator wrote after a restart:\n" + "\n".join(map(str, operator_writes)))
