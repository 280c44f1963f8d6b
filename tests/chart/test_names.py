"""Object names within Kubernetes' limits for the longest release, namespace and override: every
name at most 63 characters, the store's StatefulSet at most 52 (its pod's
``controller-revision-hash`` label is ``<name>-<10-character hash>``), label values at most 63,
names still distinct and every reference between objects still pointing at one that exists;
and names that fit kept exactly as they were."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.chart.helm import CHART, KUBE_VERSION, Tool, documents, one

LONGEST_RELEASE = "gptoss-inference-platform-production-europe-west4-abc"  # helm allows 53
LONGEST_NAMESPACE = "inference-platform-production-europe-west4-tenant-ab-0123456789"
REVISION_HASH = "-5d8f7c9b6f"  # what the StatefulSet controller appends for its pod's label
EVERYTHING = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.dashboard.enabled=true",
    "router.autoscaling.enabled=true",
)


def _render(helm: Tool, release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    args += ["--kube-version", KUBE_VERSION, *(a for s in sets for a in ("--set", s))]
    return documents(helm.ok(*args))


SCENARIOS = {
    "longest-release": (LONGEST_RELEASE, "gptoss", EVERYTHING),
    "longest-release-and-namespace": (LONGEST_RELEASE, LONGEST_NAMESPACE, EVERYTHING),
    "watching-named-namespaces": (
        LONGEST_RELEASE,
        LONGEST_NAMESPACE,
        (*EVERYTHING, f"operator.watchNamespaces={{{LONGEST_NAMESPACE},ml-serving}}"),
    ),
    "longest-fullname-override": (
        "gptoss",
        "gptoss",
        (*EVERYTHING, f"fullnameOverride={'a' * 52}"),
    ),
}


@pytest.fixture(params=list(SCENARIOS), ids=list(SCENARIOS))
def long_named(request: pytest.FixtureRequest, helm: Tool) -> list[dict[str, Any]]:
    release, namespace, sets = SCENARIOS[request.param]
    return _render(helm, release, namespace, *sets)


def test_every_object_name_fits_a_dns_label(long_named: list[dict[str, Any]]) -> None:
    too_long = [
        f"{d['kind']}/{d['metadata']['name']} ({len(d['metadata']['name'])})"
        for d in long_named
        if len(d["metadata"]["name"]) > 63
    ]
    assert too_long == []
    assert len(long_named) > 20


def test_the_store_statefulset_leaves_room_for_its_pods_revision_label(
    long_named: list[dict[str, Any]],
) -> None:
    name = one(long_named, "StatefulSet")["metadata"]["name"]
    assert len(name) <= 52
    assert len(name + REVISION_HASH) <= 63
    assert len(f"{name}-0") <= 63, "the pod's name, its hostname"
    assert name.endswith("-store")


def test_every_label_value_fits(long_named: list[dict[str, Any]]) -> None:
    labels = [
        (d["metadata"]["name"], key, value)
        for d in long_named
        for key, value in (d["metadata"].get("labels") or {}).items()
    ]
    assert labels
    assert [label for label in labels if len(str(label[2])) > 63] == []


def test_long_names_stay_distinct_and_every_reference_finds_its_object(
    long_named: list[dict[str, Any]],
) -> None:
    names = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in long_named]
    assert len(names) == len(set(names))
    by_kind = {(kind, name) for kind, _, name in names}
    for binding in (d for d in long_named if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        role = binding["roleRef"]
        assert (role["kind"], role["name"]) in by_kind, binding["metadata"]["name"]
    store = one(long_named, "StatefulSet")
    assert ("Service", store["spec"]["serviceName"]) in by_kind
    router = one(long_named, "Deployment", "-router")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in router["containers"][0]["env"]}
    store_host = urlparse(env["GPTOSS_ROUTER_STORE__URL"]).hostname or ""
    assert ("Service", store_host.split(".")[0]) in by_kind
    (secret,) = [v["secret"]["secretName"] for v in router["volumes"] if "secret" in v]
    assert ("Secret", secret) in by_kind
    test_pod = one(long_named, "Pod")["spec"]["containers"][0]["command"][-1]
    (router_url,) = re.findall(r'url = "(http://[^"]+)"', test_pod)
    assert ("Service", urlparse(router_url).hostname) in by_kind


def test_names_that_fit_are_kept_as_they_were(helm: Tool) -> None:
    docs = _render(helm, "gptoss", "gptoss", *EVERYTHING)
    names = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert names == [
        "ClusterRole/gptoss-gptoss-edit",
        "ClusterRole/gptoss-gptoss-operator",
        "ClusterRole/gptoss-gptoss-router",
        "ClusterRole/gptoss-gptoss-view",
        "ClusterRoleBinding/gptoss-gptoss-operator",
        "ClusterRoleBinding/gptoss-gptoss-router",
        "ConfigMap/gptoss-dashboard",
        "ConfigMap/gptoss-router",
        "ConfigMap/gptoss-store",
        "Deployment/gptoss-operator",
        "Deployment/gptoss-router",
        "HorizontalPodAutoscaler/gptoss-router",
        "NetworkPolicy/gptoss-operator",
        "NetworkPolicy/gptoss-router",
        "NetworkPolicy/gptoss-store",
        "Pod/gptoss-router-test",
        "PodDisruptionBudget/gptoss-router",
        "Role/gptoss-operator-release",
        "RoleBinding/gptoss-operator-release",
        "Secret/gptoss-store",
        "Service/gptoss-operator-metrics",
        "Service/gptoss-router",
        "Service/gptoss-store",
        "ServiceAccount/gptoss-operator",
        "ServiceAccount/gptoss-router",
        "ServiceMonitor/gptoss-operator",
        "ServiceMonitor/gptoss-router",
        "StatefulSet/gptoss-store",
    ]
