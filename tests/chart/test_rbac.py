"""The chart's RBAC, rule by rule: exactly what the operator and the router use, no wildcards,
no secrets, no deletes, cluster-wide only when the operator watches every namespace.
"""

from __future__ import annotations

from typing import Any

from tests.chart.helm import CHART, Tool, find, one, render

Rule = tuple[str, str, tuple[str, ...]]

OPERATOR_RULES: set[Rule] = {
    ("gptoss.dev", "gptossdeployments", ("get", "list", "patch", "watch")),
    ("gptoss.dev", "gptossdeployments/status", ("patch",)),
    ("gptoss.dev", "gptossdeployments/scale", ("patch",)),
    ("gptoss.dev", "gptossdeployments/finalizers", ("update",)),
    ("apps", "deployments", ("create", "get", "list", "patch", "watch")),
    ("", "services", ("create", "get", "patch")),
    ("", "persistentvolumeclaims", ("create", "get", "patch")),
    ("policy", "poddisruptionbudgets", ("create", "get", "patch")),
    ("batch", "jobs", ("create", "get", "patch")),
    ("networking.k8s.io", "networkpolicies", ("create", "get", "patch")),
    ("inference.networking.k8s.io", "inferencepools", ("create", "get", "patch")),
    ("", "pods", ("list", "patch", "watch")),
    ("", "events", ("create", "list")),
}
KOPF_DISCOVERY: Rule = ("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"))
KOPF_NAMESPACES: Rule = ("", "namespaces", ("list", "watch"))
NODE_CAPACITY: Rule = ("", "nodes", ("list",))  # GPUs per node of each product, read-only
ROUTER_RULES: set[Rule] = {
    ("gptoss.dev", "gptossdeployments", ("list", "watch")),
    ("", "pods", ("list", "watch")),
}


def rules(role: dict[str, Any]) -> set[Rule]:
    """A role's rules flattened to (group, resource, sorted verbs)."""
    flat: set[Rule] = set()
    for rule in role["rules"]:
        assert set(rule) - {"resourceNames"} == {"apiGroups", "resources", "verbs"}, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                flat.add((group, resource, tuple(sorted(rule["verbs"]))))
    return flat


def every_role(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Role", "ClusterRole")]


def test_the_cluster_wide_operator_has_exactly_its_rules(helm: Tool) -> None:
    docs = render(helm)
    role = one(docs, "ClusterRole", "-operator")
    assert rules(role) == OPERATOR_RULES | {KOPF_DISCOVERY, NODE_CAPACITY}
    binding = one(docs, "ClusterRoleBinding", "-operator")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (subject,) = binding["subjects"]
    assert subject["kind"] == "ServiceAccount"
    assert subject["name"] == one(docs, "ServiceAccount", "-operator")["metadata"]["name"]
    assert subject["namespace"] == "gptoss"


def test_the_namespaced_operator_is_bound_only_in_its_namespaces(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "namespaced-values.yaml")
    role = one(docs, "ClusterRole", "-operator")
    assert rules(role) == OPERATOR_RULES
    bindings = find(docs, "RoleBinding", "-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["ml-serving", "ml-staging"]
    assert {b["roleRef"]["name"] for b in bindings} == {role["metadata"]["name"]}
    cluster_bindings = find(docs, "ClusterRoleBinding")
    assert [b["roleRef"]["name"] for b in cluster_bindings] == [
        one(docs, "ClusterRole", "-operator-discovery")["metadata"]["name"]
    ]
    assert rules(one(docs, "ClusterRole", "-operator-discovery")) == {
        KOPF_DISCOVERY,
        KOPF_NAMESPACES,
        NODE_CAPACITY,
    }


def test_the_router_follows_the_operators_namespaces_by_default(helm: Tool) -> None:
    docs = render(helm, sets=("operator.watchNamespaces={ml-a,ml-b}",))
    roles = find(docs, "Role", "-router")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ml-a", "ml-b"]
    assert all(rules(r) == ROUTER_RULES for r in roles)
    assert find(docs, "ClusterRole", "-router") == []


def test_a_router_following_every_namespace_gets_a_read_only_cluster_role(helm: Tool) -> None:
    docs = render(helm)
    assert find(docs, "Role", "-router") == []
    assert rules(one(docs, "ClusterRole", "-router")) == ROUTER_RULES
    binding = one(docs, "ClusterRoleBinding", "-router")
    assert (
        binding["subjects"][0]["name"] == one(docs, "ServiceAccount", "-router")["metadata"]["name"]
    )


def test_the_router_may_only_list_and_watch_in_its_namespaces(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "full-values.yaml")
    role = one(docs, "Role", "-router")
    assert role["metadata"]["namespace"] == "ml-serving"
    assert rules(role) == ROUTER_RULES
    binding = one(docs, "RoleBinding", "-router")
    assert binding["metadata"]["namespace"] == "ml-serving"
    assert binding["subjects"][0]["namespace"] == "gptoss"


def test_a_static_router_gets_no_role_and_no_token(helm: Tool) -> None:
    docs = render(helm, CHART / "ci" / "namespaced-values.yaml")
    assert find(docs, "Role", "-router") == []
    pod = one(docs, "Deployment", "-router")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False


def test_no_rule_has_a_wildcard_a_secret_a_delete_a_node_write_or_an_escalation(helm: Tool) -> None:
    for values in (CHART / "ci").glob("*-values.yaml"):
        for role in every_role(render(helm, values)):
            for group, resource, verbs in rules(role):
                where = f"{role['metadata']['name']}: {group}/{resource} {verbs}"
                assert "*" not in (group, resource, *verbs), where
                assert resource not in ("secrets", "clusterroles", "roles"), where
                if resource == "nodes":
                    assert verbs == ("list",), where
                assert not {"escalate", "bind", "impersonate"} & set(verbs), where
                if not role["metadata"]["name"].endswith("-edit"):
                    assert not {"delete", "deletecollection"} & set(verbs), where


def test_service_account_tokens_are_mounted_only_by_pods_that_call_the_api(helm: Tool) -> None:
    docs = render(helm)
    for account in find(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
    operator = one(docs, "Deployment", "-operator")["spec"]["template"]["spec"]
    assert operator["automountServiceAccountToken"] is True
    router = one(docs, "Deployment", "-router")["spec"]["template"]["spec"]
    assert router["automountServiceAccountToken"] is True  # discovery: kubernetes
    (test_pod,) = [d for d in docs if d["kind"] == "Pod"]
    assert test_pod["spec"]["automountServiceAccountToken"] is False


def test_cluster_scoped_names_carry_the_namespace_and_the_release(helm: Tool) -> None:
    first = render(helm, namespace="team-a")
    second = render(helm, namespace="team-b")

    def names(docs: list[dict[str, Any]]) -> set[str]:
        kinds = ("ClusterRole", "ClusterRoleBinding")
        return {d["metadata"]["name"] for d in docs if d["kind"] in kinds}

    assert names(first)
    assert names(first).isdisjoint(names(second))
    assert all(name.startswith("team-a-gptoss-") for name in names(first))


def test_the_aggregated_roles_let_namespace_users_manage_but_not_write_status(
    helm: Tool,
) -> None:
    docs = render(helm)
    edit = one(docs, "ClusterRole", "-edit")
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert all(resource != "gptossdeployments/status" for _, resource, _ in rules(edit))
    view = one(docs, "ClusterRole", "-view")
    assert {verbs for _, _, verbs in rules(view)} == {("get", "list", "watch")}
