"""Upgrades of the embedded store against the real local control plane: a change to the store's
volume claims (persistence turned on or off, the claim grown, another storage class) is refused
by the chart before anything is sent, naming the values and the commands that make it possible,
and those for turning persistence on do (the others need a volume provisioner); a size written
another way is no change. The generated password's survival across upgrades is in
``test_install``; what a GitOps tool that cannot look it up must do is in the README."""

from __future__ import annotations

import json
import re
import shlex

from tests.chart.conftest import Install
from tests.chart.helm import CHART, Tool
from tests.waiting import eventually

PERSISTENCE = "store.embedded.persistence"


def _upgrade(cluster_helm: Tool, release: str, namespace: str, *sets: str) -> str:
    """``helm upgrade`` with ``--set`` pairs; its stderr, empty when it succeeded."""
    args = [a for s in sets for a in ("--set", s)]
    done = cluster_helm("upgrade", release, str(CHART), "--namespace", namespace, *args)
    return "" if done.returncode == 0 else " ".join(done.stderr.split())


def _claims(kubectl: Tool, namespace: str, name: str) -> list[tuple[str, str]]:
    """The live StatefulSet's volume claim templates as (name, storage)."""
    body = json.loads(kubectl.ok("get", "statefulset", name, "-n", namespace, "-o", "json"))
    return [
        (c["metadata"]["name"], c["spec"]["resources"]["requests"]["storage"])
        for c in body["spec"].get("volumeClaimTemplates", [])
    ]


def _pod_claim(kubectl: Tool, namespace: str, pod: str) -> str | None:
    """The claim the pod's ``data`` volume mounts, if the pod exists and mounts one."""
    done = kubectl("get", "pod", pod, "-n", namespace, "-o", "json")
    if done.returncode != 0:
        return None
    volumes = json.loads(done.stdout)["spec"]["volumes"]
    data = next(v for v in volumes if v["name"] == "data")
    claim: str | None = data.get("persistentVolumeClaim", {}).get("claimName")
    return claim


def _commands(message: str) -> list[list[str]]:
    """The commands a message gives between backticks."""
    return [shlex.split(found) for found in re.findall(r"`(kubectl [^`]+)`", message)]


def test_turning_persistence_on_is_refused_naming_the_value_and_the_way_and_the_way_works(
    install: Install, cluster_helm: Tool, kubectl: Tool, namespace: str
) -> None:
    release = install()
    store = f"{release}-gptoss-store"
    refused = _upgrade(cluster_helm, release, namespace, f"{PERSISTENCE}.enabled=true")
    assert f"{PERSISTENCE} (enabled=true, size=1Gi" in refused
    assert f"store StatefulSet {namespace}/{store}, which has no volume claim" in refused
    assert "volumeClaimTemplates in place" in refused
    assert "README, Store persistence" in refused
    assert _claims(kubectl, namespace, store) == [], "nothing was changed"

    orphan, recreate = _commands(refused)
    assert orphan == [
        "kubectl", "-n", namespace, "delete", "statefulset", store, "--cascade=orphan",
    ]  # fmt: skip
    assert recreate == ["kubectl", "-n", namespace, "delete", "pod", f"{store}-0"]
    kubectl.ok(*orphan[1:])
    assert _upgrade(cluster_helm, release, namespace, f"{PERSISTENCE}.enabled=true") == ""
    assert _claims(kubectl, namespace, store) == [("data", "1Gi")]
    # At once: the local cluster's fake nodes do not finish a graceful deletion (a kubelet's job).
    kubectl.ok(*recreate[1:], "--grace-period=0", "--force")
    eventually(
        lambda: _pod_claim(kubectl, namespace, f"{store}-0") == f"data-{store}-0",
        timeout=60,
        what="the adopted store pod to be replaced by one on the claim",
    )


def test_growing_the_claim_is_refused_but_the_same_size_written_otherwise_is_not(
    install: Install, cluster_helm: Tool, kubectl: Tool, namespace: str
) -> None:
    release = install("--set", f"{PERSISTENCE}.enabled=true")
    store = f"{release}-gptoss-store"
    on = f"{PERSISTENCE}.enabled=true"
    assert _upgrade(cluster_helm, release, namespace, on, f"{PERSISTENCE}.size=1024Mi") == ""
    refused = _upgrade(cluster_helm, release, namespace, on, f"{PERSISTENCE}.size=5Gi")
    assert f"{PERSISTENCE} (enabled=true, size=5Gi" in refused
    assert "which has claim data of 1Gi (storage class the cluster's default)" in refused
    assert "these values ask for claim data of 5Gi" in refused
    assert f"patch pvc data-{store}-0" in refused
    assert '"storage":"5Gi"' in refused
    assert _claims(kubectl, namespace, store) == [("data", "1Gi")]
    resize, orphan = _commands(refused)
    assert resize[:6] == ["kubectl", "-n", namespace, "patch", "pvc", f"data-{store}-0"]
    assert orphan[3:] == ["delete", "statefulset", store, "--cascade=orphan"]
    refused = _upgrade(cluster_helm, release, namespace, f"{PERSISTENCE}.enabled=false")
    assert "these values ask for no volume claim (persistence off)" in refused
    assert "To turn persistence off" in refused
    refused = _upgrade(
        cluster_helm, release, namespace, on, f"{PERSISTENCE}.storageClassName=fast"
    )  # fmt: skip
    assert "these values ask for claim data of 1Gi (storage class fast)" in refused
