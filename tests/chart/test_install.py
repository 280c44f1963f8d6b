"""The chart against the real local control plane: install creates every object; the
operator's ServiceAccount may do its work and nothing more, proven with `kubectl auth can-i`
and by running the operator under that account's own token; upgrade to other values replaces
what changed and keeps the CRD in step by the documented command; uninstall leaves only the
CRD behind.

Pods of the chart are not executed here (the fake nodes only mark pods Running); the operator
under test runs as a local process holding the chart's ServiceAccount token.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

from gptoss_localkube.cluster import ClusterInfo
from gptoss_localkube.net import answers, free_port
from tests.chart.conftest import Install
from tests.chart.helm import CHART, REPO, Tool
from tests.operator.operator_process import operator_running
from tests.waiting import eventually

CRD_NAME = "gptossdeployments.gptoss.dev"
CLUSTER_KINDS = "clusterroles,clusterrolebindings"
NAMESPACED_KINDS = (
    "deployments,statefulsets,services,configmaps,secrets,serviceaccounts,roles,rolebindings,"
    "networkpolicies,poddisruptionbudgets,horizontalpodautoscalers"
)
# Pods come and go with their Deployments; they are checked only for being gone.
WORKLOAD_KINDS = f"{NAMESPACED_KINDS},replicasets,pods"


def _objects(kubectl: Tool, release: str, *where: str) -> list[str]:
    selector = f"app.kubernetes.io/instance={release}"
    out = kubectl.ok("get", *where, "-l", selector, "-o", "name")
    return sorted(out.split())


def _can(kubectl: Tool, account: str, verb: str, resource: str, namespace: str) -> bool:
    """``kubectl auth can-i`` as ``account``; ``resource`` may name a subresource after a /."""
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    done = kubectl("auth", "can-i", verb, resource, *extra, f"--as={account}", "-n", namespace)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


def _crd_established(kubectl: Tool) -> bool:
    crd = json.loads(kubectl.ok("get", "crd", CRD_NAME, "-o", "json"))
    return any(
        c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"]
    )


def test_install_creates_every_object_of_the_release(
    install: Install, kubectl: Tool, namespace: str
) -> None:
    release = install()
    full = f"{release}-gptoss"
    assert _objects(kubectl, release, NAMESPACED_KINDS, "-n", namespace) == sorted(
        [
            f"configmap/{full}-router",
            f"configmap/{full}-store",
            f"deployment.apps/{full}-operator",
            f"deployment.apps/{full}-router",
            f"networkpolicy.networking.k8s.io/{full}-operator",
            f"networkpolicy.networking.k8s.io/{full}-router",
            f"networkpolicy.networking.k8s.io/{full}-store",
            f"poddisruptionbudget.policy/{full}-router",
            f"role.rbac.authorization.k8s.io/{full}-operator-release",
            f"rolebinding.rbac.authorization.k8s.io/{full}-operator-release",
            f"secret/{full}-store",
            f"service/{full}-operator-metrics",
            f"service/{full}-router",
            f"service/{full}-store",
            f"serviceaccount/{full}-operator",
            f"serviceaccount/{full}-router",
            f"statefulset.apps/{full}-store",
        ]
    )
    cluster_scoped = f"{namespace}-{full}"
    assert _objects(kubectl, release, CLUSTER_KINDS) == sorted(
        [
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-edit",
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-operator",
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-router",
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-view",
            f"clusterrolebinding.rbac.authorization.k8s.io/{cluster_scoped}-operator",
            f"clusterrolebinding.rbac.authorization.k8s.io/{cluster_scoped}-router",
        ]
    )
    eventually(lambda: _crd_established(kubectl), timeout=60, what="the CRD to be Established")


ALLOWED = [
    ("patch", "deployments.apps"),
    ("create", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("patch", "services"),
    ("patch", "poddisruptionbudgets.policy"),
    ("patch", "persistentvolumeclaims"),
    ("patch", "jobs.batch"),
    ("get", "jobs.batch"),
    ("list", "pods"),
    ("watch", "pods"),
    ("patch", "pods"),
    ("create", "events"),
    ("list", "events"),
    ("list", "nodes"),
    ("patch", "gptossdeployments.gptoss.dev"),
    ("watch", "gptossdeployments.gptoss.dev"),
    ("patch", "gptossdeployments.gptoss.dev/status"),
    ("patch", "gptossdeployments.gptoss.dev/scale"),
    ("get", "services"),
    ("update", "gptossdeployments.gptoss.dev/finalizers"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "networkpolicies.networking.k8s.io"),
    ("create", "leases.coordination.k8s.io"),
]
FORBIDDEN = [
    ("delete", "nodes"),
    ("patch", "nodes"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("delete", "deployments.apps"),
    ("delete", "gptossdeployments.gptoss.dev"),
    ("create", "gptossdeployments.gptoss.dev"),
    ("update", "gptossdeployments.gptoss.dev/status"),
    ("update", "gptossdeployments.gptoss.dev/scale"),
    ("create", "pods"),
    ("patch", "configmaps"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
    ("create", "serviceaccounts/token"),
]


def test_the_operator_account_may_do_its_work_and_nothing_more(
    install: Install, kubectl: Tool, namespace: str
) -> None:
    release = install()
    account = f"system:serviceaccount:{namespace}:{release}-gptoss-operator"
    assert [(v, r) for v, r in ALLOWED if not _can(kubectl, account, v, r, namespace)] == []
    assert [(v, r) for v, r in FORBIDDEN if _can(kubectl, account, v, r, namespace)] == []
    # Cluster-wide by default: the same rights in any other namespace.
    assert _can(kubectl, account, "patch", "deployments.apps", "kube-system")


def test_the_router_account_may_only_read_gptoss_deployments_and_pods(
    install: Install, kubectl: Tool, namespace: str
) -> None:
    release = install(f"--set=router.discovery.namespaces={{{namespace}}}")
    account = f"system:serviceaccount:{namespace}:{release}-gptoss-router"
    for verb, resource in [("list", "pods"), ("watch", "gptossdeployments.gptoss.dev")]:
        assert _can(kubectl, account, verb, resource, namespace), (verb, resource)
    for verb, resource, where in [
        ("get", "secrets", namespace),
        ("patch", "gptossdeployments.gptoss.dev", namespace),
        ("list", "pods", "kube-system"),
        ("list", "gptossdeployments.gptoss.dev", "default"),
    ]:
        assert not _can(kubectl, account, verb, resource, where), (verb, resource, where)


def _kubeconfig_with_token(cluster: ClusterInfo, token: str, path: Path) -> Path:
    """The cluster's kubeconfig, authenticating as the ServiceAccount that owns ``token``."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "chart-operator", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "chart-operator"
    path.write_text(yaml.safe_dump(config))
    return path


def _get(kubectl: Tool, namespace: str, *what: str) -> dict[str, Any] | None:
    done = kubectl("get", *what, "-n", namespace, "-o", "json")
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_the_operator_reconciles_under_the_charts_service_account_token(
    install: Install,
    kubectl: Tool,
    cluster: ClusterInfo,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Namespaced mode: RoleBinding in the watched namespace, discovery ClusterRole; the real
    operator process, authenticated only by the chart's ServiceAccount token, creates the
    children, writes status and posts Events, and logs no permission error."""
    release = install(f"--set=operator.watchNamespaces={{{namespace}}}")
    eventually(lambda: _crd_established(kubectl), timeout=60, what="the CRD to be Established")
    account = f"{release}-gptoss-operator"
    token = kubectl.ok("create", "token", account, "-n", namespace, "--duration=1h").strip()
    kubeconfig = _kubeconfig_with_token(cluster, token, tmp_path / "operator-kubeconfig")
    whoami = Tool(kubectl.binary, kubeconfig).ok("auth", "whoami", "-o", "json")
    assert json.loads(whoami)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:{account}"
    )
    example = REPO / "crds" / "examples" / "gpt-oss-20b-h100.yaml"
    name = yaml.safe_load(example.read_text())["metadata"]["name"]
    log = tmp_path / "operator.log"
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    with operator_running(
        kubeconfig,
        log,
        "--namespace",
        namespace,
        "--liveness",
        liveness,
        GPTOSS_OPERATOR_RESYNC_SECONDS="3",
        # As the chart's pod runs it: leader elected, router pods read, vLLM pods fenced.
        GPTOSS_OPERATOR_LEADER_ELECTION_LEASE=account,
        GPTOSS_OPERATOR_LEADER_ELECTION_NAMESPACE=namespace,
        GPTOSS_OPERATOR_ROUTER_NAMESPACE=namespace,
        GPTOSS_OPERATOR_ROUTER_SELECTOR=f"app.kubernetes.io/instance={release}",
        GPTOSS_OPERATOR_VLLM_CLIENTS_NAMESPACE=namespace,
        GPTOSS_OPERATOR_VLLM_CLIENT_LABELS=json.dumps([{"app.kubernetes.io/instance": release}]),
    ) as process:
        eventually(lambda: answers(liveness), timeout=60, what="the operator's liveness")
        kubectl.ok("apply", "-n", namespace, "-f", str(example))

        def reconciled() -> dict[str, Any] | None:
            cr = _get(kubectl, namespace, "gptossdeployment", name)
            status = (cr or {}).get("status") or {}
            return cr if status.get("observedGeneration") == 1 else None

        try:
            eventually(reconciled, timeout=90, what="status written by the operator")
        except AssertionError as failed:
            raise AssertionError(f"{failed}\noperator log:\n{log.read_text()[-4000:]}") from None
        for kind, child in [
            ("deployment", f"{name}-vllm"),
            ("service", name),
            ("poddisruptionbudget", f"{name}-vllm"),
            ("networkpolicy", f"{name}-vllm"),
        ]:
            body = _get(kubectl, namespace, kind, child, "--show-managed-fields")
            assert body is not None, f"{kind}/{child} was not created"
            managers = {m["manager"] for m in body["metadata"]["managedFields"]}
            assert "gptoss-operator" in managers
        about = f"--field-selector=involvedObject.name={name}"
        events = eventually(
            lambda: (_get(kubectl, namespace, "events", about) or {}).get("items"),
            timeout=60,
            what="an Event about the GptOssDeployment",
        )
        assert any(e.get("reportingComponent") == "gptoss.dev/gptoss-operator" for e in events)
        lease = _get(kubectl, namespace, "lease", account)
        assert lease is not None and lease["spec"].get("holderIdentity"), "no leader"
        kubectl.ok("delete", "gptossdeployment", name, "-n", namespace, "--wait=true")
        assert process.poll() is None, log.read_text()[-3000:]
    text = log.read_text()
    denied = re.findall(r".*(?:[Ff]orbidden|\b403\b|Not enough permissions).*", text)
    assert denied == [], "\n".join(denied[:5])


def _store_password(kubectl: Tool, namespace: str, secret: str) -> str:
    body = _get(kubectl, namespace, "secret", secret)
    assert body is not None, f"secret/{secret} is missing"
    password: str = body["data"]["password"]
    return password


def test_the_generated_store_password_survives_upgrades(
    install: Install, cluster_helm: Tool, kubectl: Tool, namespace: str
) -> None:
    release = install()
    secret = f"{release}-gptoss-store"
    first = _store_password(kubectl, namespace, secret)
    assert len(first) >= 32
    cluster_helm.ok(
        "upgrade", release, str(CHART), "--namespace", namespace, "--set", "router.replicas=3"
    )  # fmt: skip
    assert _store_password(kubectl, namespace, secret) == first
    cluster_helm.ok("upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values")
    assert _store_password(kubectl, namespace, secret) == first


def _crd_command() -> list[str]:
    """The CRD command of the chart README's Upgrading section."""
    readme = (CHART / "README.md").read_text()
    block = readme.split("<!-- crd-upgrade -->", 1)[1].split("<!-- /crd-upgrade -->", 1)[0]
    (line,) = [ln for ln in block.splitlines() if ln.startswith("kubectl apply")]
    return line.split()[1:]


def test_upgrade_to_other_values_replaces_what_changed_and_keeps_the_crd_in_step(
    install: Install, cluster_helm: Tool, kubectl: Tool, namespace: str
) -> None:
    release = install()
    full, cluster_scoped = f"{release}-gptoss", f"{namespace}-{release}-gptoss"
    crd_args = _crd_command()
    assert crd_args[:2] == ["apply", "--server-side"]
    done = subprocess.run(
        [str(kubectl.binary), *crd_args, f"--kubeconfig={kubectl.kubeconfig}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cluster_helm.ok(
        "upgrade", release, str(CHART), "--namespace", namespace,
        "--values", str(CHART / "ci" / "namespaced-values.yaml"),
        f"--set=operator.watchNamespaces={{{namespace}}}",
    )  # fmt: skip
    assert _objects(kubectl, release, CLUSTER_KINDS) == sorted(
        [
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-operator",
            f"clusterrole.rbac.authorization.k8s.io/{cluster_scoped}-operator-discovery",
            f"clusterrolebinding.rbac.authorization.k8s.io/{cluster_scoped}-operator-discovery",
        ]
    )
    namespaced = _objects(kubectl, release, "roles,rolebindings,networkpolicies", "-n", namespace)
    assert namespaced == [
        f"role.rbac.authorization.k8s.io/{full}-operator-release",
        f"rolebinding.rbac.authorization.k8s.io/{full}-operator",
        f"rolebinding.rbac.authorization.k8s.io/{full}-operator-release",
    ]
    config = _get(kubectl, namespace, "configmap", f"{full}-router")
    assert config is not None
    assert yaml.safe_load(config["data"]["router.yaml"])["discovery"] == "static"
    live = json.loads(kubectl.ok("get", "crd", CRD_NAME, "-o", "json"))
    shipped = yaml.safe_load((CHART / "crds" / f"{CRD_NAME}.yaml").read_text())
    assert [v["name"] for v in live["spec"]["versions"]] == [
        v["name"] for v in shipped["spec"]["versions"]
    ]
    assert live["spec"]["versions"][0]["schema"] == shipped["spec"]["versions"][0]["schema"]


def test_uninstall_leaves_nothing_but_the_crd(
    cluster_helm: Tool, kubectl: Tool, namespace: str
) -> None:
    release = f"g{uuid.uuid4().hex[:8]}"
    cluster_helm.ok("install", release, str(CHART), "--namespace", namespace)
    try:
        assert _objects(kubectl, release, CLUSTER_KINDS)
        assert _objects(kubectl, release, WORKLOAD_KINDS, "-n", namespace)
    finally:
        cluster_helm.ok("uninstall", release, "--namespace", namespace)
    assert cluster_helm("status", release, "--namespace", namespace).returncode != 0
    assert _objects(kubectl, release, CLUSTER_KINDS) == []
    eventually(
        lambda: _objects(kubectl, release, WORKLOAD_KINDS, "-n", namespace) == [],
        timeout=60,
        what="the release's namespaced objects to be gone",
    )
    assert kubectl("get", "crd", CRD_NAME).returncode == 0, "the CRD must survive uninstall"
