"""ServedNameTaken in a namespaced install: the operator may list GptOssDeployments only in the
namespaces it watches (its Roles), so it reads the other CRs there, one namespace at a time,
and refuses a name an older CR of those namespaces serves."""

from __future__ import annotations

from typing import Any, cast

from gptoss_operator.errors import KubeRejected
from gptoss_operator.kube.client import Kube
from gptoss_operator.reconciling.planning import plan
from gptoss_operator.reconciling.reasons import Reason
from gptoss_operator.reconciling.reconcile import names_checked
from gptoss_operator.settings import OperatorSettings


def cr(name: str, ns: str, created: str) -> dict[str, Any]:
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{name}",
            "creationTimestamp": created,
        },
        "spec": {
            "model": "gpt-oss-20b",
            "servedModelName": "support-v3",
            "gpu": {"product": "H100-80GB"},
        },
    }


class NamespacedApi:
    """Lists GptOssDeployments as the API server does for a Role in ``allowed`` only: 403
    for any other namespace and for all namespaces at once."""

    def __init__(self, crs: list[dict[str, Any]], allowed: set[str]) -> None:
        self.crs, self.allowed = crs, allowed
        self.scopes: list[str | None] = []

    def list(self, api_version: str, kind: str, namespace: str | None, **_: Any) -> Any:
        self.scopes.append(namespace)
        if namespace not in self.allowed:
            where = f"in the namespace {namespace!r}" if namespace else "at the cluster scope"
            raise KubeRejected(f"GET gptossdeployments: forbidden {where}", status=403)
        return [c for c in self.crs if c["metadata"]["namespace"] == namespace]


OLDER = cr("support", "team-a", "2026-01-01T00:00:00Z")
LATER = cr("copy", "team-b", "2026-02-01T00:00:00Z")


def checked(api: NamespacedApi, namespaces: tuple[str, ...]) -> Any:
    decided = plan(LATER, OperatorSettings())
    return names_checked(cast(Kube, api), LATER, decided, namespaces)


def test_a_namespaced_operator_refuses_a_name_an_older_cr_of_its_namespaces_serves() -> None:
    api = NamespacedApi([OLDER, LATER], {"team-a", "team-b"})
    refused = checked(api, ("team-a", "team-b"))
    assert api.scopes == ["team-a", "team-b"]  # never the cluster scope it may not list
    assert refused.sizing is None and refused.sizing_reason is Reason.SERVED_NAME_TAKEN
    assert refused.sizing_error.startswith(
        "spec.servedModelName 'support-v3' is already served by GptOssDeployment "
        "team-a/support, created first"
    )


def test_a_cluster_wide_list_it_may_not_make_leaves_the_name_unchecked() -> None:
    api = NamespacedApi([OLDER, LATER], {"team-a", "team-b"})
    kept = checked(api, ())
    assert api.scopes == [None]
    assert kept.sizing is not None and kept.sizing_error is None
