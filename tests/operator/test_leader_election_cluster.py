"""Two operator replicas on the real control plane, electing a leader through a Lease: only the
leader writes (every write in the API server's audit log is attributed to one replica by its
user agent), a standby takes over within 15 s of the leader's SIGKILL in the middle of a
reconcile and finishes it without duplicating a child, and a leader that is stopped releases
the Lease so the standby takes over at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.simruntime import STARTUP_ANNOTATION
from tests.operator.audit import Write, writes_since
from tests.operator.conftest import Kubectl
from tests.operator.crs import get_cr, ready_reason, simulated
from tests.operator.gptoss_crd import manifest
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

LEASE = "gptoss-operator"
TAKEOVER_BOUND_S = 15.0
# Pods that take seconds to be ready (the vLLM simulator, started late): the leader killed
# right after it scaled the Deployment cannot have written the status of the new replica, so
# the standby must finish the reconcile (with pods ready at once, the leader could be done).
SPEC = simulated(replicas=2)
SPEC["pod"]["annotations"][STARTUP_ANNOTATION] = "6"


def _holder(api_client: client.ApiClient, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity


@contextmanager
def _replica(
    cluster: ClusterInfo, namespace: str, identity: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "GPTOSS_OPERATOR_RESYNC_SECONDS": "3",
        "GPTOSS_OPERATOR_LEADER_ELECTION_LEASE": LEASE,
        "GPTOSS_OPERATOR_LEADER_ELECTION_NAMESPACE": namespace,
        "GPTOSS_OPERATOR_LEADER_ELECTION_IDENTITY": identity,
    }
    with operator_running(cluster.kubeconfig, log, "--namespace", namespace, **env) as process:
        yield process


def _settled(api_client: client.ApiClient, namespace: str, generation: int, ready: int) -> bool:
    cr = get_cr(api_client, namespace, "ha")
    status = cr.get("status") or {}
    return (
        status.get("observedGeneration") == generation
        and status.get("readyReplicas") == ready
        and ready_reason(cr) == "Serving"
    )


def _by_replica(writes: list[Write]) -> list[tuple[dt.datetime, str, Write]]:
    """The writes of either replica, by the time the API server received them."""
    found = []
    for write in writes:
        for identity in ("op-a", "op-b"):
            if f"({identity})" in write.user_agent and write.received is not None:
                found.append((write.received, identity, write))
    return sorted(found, key=lambda entry: entry[0])


def _one_replica_at_a_time(entries: list[tuple[dt.datetime, str, Write]]) -> None:
    identities = [identity for _, identity, _ in entries]
    switches = [i for i in range(1, len(identities)) if identities[i] != identities[i - 1]]
    assert len(switches) <= 1, "writes interleave:\n" + "\n".join(
        f"{at.time()} {identity} {write}" for at, identity, write in entries
    )


def _children(api_client: client.ApiClient, namespace: str) -> dict[str, list[Any]]:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    policy = client.PolicyV1Api(api_client)
    return {
        "deployments": apps.list_namespaced_deployment(namespace).items,
        "services": core.list_namespaced_service(namespace).items,
        "pdbs": policy.list_namespaced_pod_disruption_budget(namespace).items,
    }


def _timed(probe: Callable[[], bool], *, timeout: float, what: str) -> float:
    started = time.monotonic()
    eventually(probe, timeout=timeout, what=what)
    return time.monotonic() - started


def test_a_standby_finishes_the_reconcile_of_a_leader_killed_mid_way_within_fifteen_seconds(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    tmp_path: Path,
) -> None:
    offset = cluster.audit_log.stat().st_size
    with ExitStack() as stack:
        a = stack.enter_context(_replica(cluster, namespace, "op-a", tmp_path / "a.log"))
        eventually(lambda: _holder(api_client, namespace) == "op-a", timeout=60, what="a leads")
        b = stack.enter_context(_replica(cluster, namespace, "op-b", tmp_path / "b.log"))
        eventually(
            lambda: "is held by op-a" in (tmp_path / "b.log").read_text(),
            timeout=60,
            what="b to stand by",
        )
        assert kubectl.apply(namespace, manifest("ha", SPEC)).returncode == 0
        eventually(lambda: _settled(api_client, namespace, 1, 2), timeout=90, what="settled")

        changed = dt.datetime.now(dt.UTC)
        patch = json.dumps({"spec": {"replicas": 3}})
        done = kubectl("patch", "gptoss", "ha", "-n", namespace, "--type=merge", "-p", patch)
        assert done.returncode == 0, done.stderr

        def a_is_reconciling() -> bool:
            return any(
                w.resource == "deployments" and "(op-a)" in w.user_agent
                for w in writes_since(cluster.audit_log, offset)
                if w.received is not None and w.received >= changed
            )

        eventually(a_is_reconciling, timeout=30, what="a to start applying the change")
        os.kill(a.pid, signal.SIGKILL)
        killed = dt.datetime.now(dt.UTC)
        takeover = _timed(
            lambda: _holder(api_client, namespace) == "op-b",
            timeout=TAKEOVER_BOUND_S + 10,
            what="b to take the lease",
        )
        assert a.wait(timeout=10) == -signal.SIGKILL
        assert takeover <= TAKEOVER_BOUND_S, f"b took {takeover:.1f} s to take over"
        eventually(lambda: _settled(api_client, namespace, 2, 3), timeout=60, what="3 replicas")
        assert b.poll() is None, (tmp_path / "b.log").read_text()[-3000:]
        # Lease writes are not audited (the local cluster's policy leaves leases out); the
        # Lease itself counts the hand-over.
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, namespace)
        assert (lease.spec.holder_identity, lease.spec.lease_transitions) == ("op-b", 1)
        print(f"take-over after SIGKILL: {takeover:.1f} s")

    entries = _by_replica(
        [w for w in writes_since(cluster.audit_log, offset) if w.namespace == namespace]
    )
    _one_replica_at_a_time(entries)
    assert all(at < killed for at, who, _ in entries if who == "op-a")
    assert all(at > killed for at, who, _ in entries if who == "op-b"), "b wrote as a standby"
    b_wrote = {(w.resource, w.subresource) for _, who, w in entries if who == "op-b"}
    assert ("gptossdeployments", "status") in b_wrote, "b did not finish the reconcile"
    assert any("kopf/" in w.user_agent for _, _, w in entries), "Kopf's writes are unattributed"

    uid = get_cr(api_client, namespace, "ha")["metadata"]["uid"]
    for kind, found in _children(api_client, namespace).items():
        assert len(found) == 1, f"{kind}: {[c.metadata.name for c in found]}"
        (owner,) = found[0].metadata.owner_references
        assert owner.uid == uid, f"{kind} {found[0].metadata.name} is not owned by the CR"
    pods = client.CoreV1Api(api_client).list_namespaced_pod(namespace).items
    assert len([p for p in pods if not p.metadata.deletion_timestamp]) == 3


def test_a_leader_that_is_stopped_hands_the_lease_over_at_once(
    cluster: ClusterInfo,
    gptoss_crd: dict[str, Any],
    api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    offset = cluster.audit_log.stat().st_size
    with _replica(cluster, namespace, "op-b", tmp_path / "b.log") as b:
        eventually(lambda: _holder(api_client, namespace) == "op-b", timeout=60, what="b leads")
        with _replica(cluster, namespace, "op-a", tmp_path / "a.log"):
            eventually(
                lambda: "is held by op-b" in (tmp_path / "a.log").read_text(),
                timeout=60,
                what="a to stand by",
            )
            b.terminate()
            assert b.wait(timeout=30) == 0, (tmp_path / "b.log").read_text()[-3000:]
            handover = _timed(
                lambda: _holder(api_client, namespace) == "op-a",
                timeout=TAKEOVER_BOUND_S,
                what="a to take the released lease",
            )
    assert handover < 4, f"took {handover:.1f} s: the lease was not released"
    writes = [w for w in writes_since(cluster.audit_log, offset) if w.namespace == namespace]
    _one_replica_at_a_time(_by_replica(writes))
