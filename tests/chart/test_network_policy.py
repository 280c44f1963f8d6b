"""The router's NetworkPolicy follows its configuration: providers and static pods reachable on
the ports of their URLs (not a fixed 443 and 8000), anything else through
networkPolicy.routerExtraEgress; and a router whose callers are restricted still lets in its
scrapers (networkPolicy.routerMetricsFrom), the operator and the chart's own test pod."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.chart.helm import CHART, Tool, one, render

PRICE = {"id": "openai/gpt-oss-20b", "price": {"input": 0.05, "output": 0.2}}


def _provider(name: str, base_url: str) -> dict[str, Any]:
    return {"name": name, "kind": "vllm", "base_url": base_url, "models": {"gpt-oss-20b": PRICE}}


def _values(tmp_path: Path, **values: Any) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _router_policy(helm: Tool, tmp_path: Path, **values: Any) -> dict[str, Any]:
    policy: dict[str, Any] = one(
        render(helm, _values(tmp_path, **values)), "NetworkPolicy", "-router"
    )["spec"]
    return policy


def _ports(rule: dict[str, Any]) -> list[int]:
    return [p["port"] for p in rule.get("ports", [])]


def _config(**config: Any) -> dict[str, Any]:
    return {"router": {"config": config}}


def test_each_provider_is_reachable_on_the_port_of_its_base_url(helm: Tool, tmp_path: Path) -> None:
    providers = [
        _provider("dc2", "http://vllm-gateway.inference-dc2.svc:8000/v1"),
        _provider("groq", "https://api.groq.com/openai/v1"),
        _provider("edge", "https://edge.example:8443/v1"),
        _provider("plain", "http://plain.example/v1"),
        _provider("groq-eu", "https://eu.groq.example/v1"),
    ]
    policy = _router_policy(helm, tmp_path, **_config(providers=providers))
    rules = [r for r in policy["egress"] if 8443 in _ports(r)]
    assert rules == [{"ports": [{"port": p, "protocol": "TCP"} for p in (80, 443, 8000, 8443)]}]


def test_provider_cidrs_confine_the_providers_ports(helm: Tool, tmp_path: Path) -> None:
    values = _config(providers=[_provider("dc2", "http://10.1.2.3:8000/v1")])
    values["networkPolicy"] = {"providerCIDRs": ["10.1.0.0/16"]}
    policy = _router_policy(helm, tmp_path, **values)
    (rule,) = [r for r in policy["egress"] if r.get("to") == [{"ipBlock": {"cidr": "10.1.0.0/16"}}]]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_a_static_pod_is_reachable_on_its_port_and_only_at_its_address(
    helm: Tool, tmp_path: Path
) -> None:
    pods = ["http://10.20.30.40:8000", "http://[fd00::5]:8001", "http://vllm-a.ml.svc:8002"]
    values = _config(models={"gpt-oss-20b": {"local": {"pods": pods}}, "gpt-oss-120b": {}})
    egress = _router_policy(helm, tmp_path, **values)["egress"]
    assert {"ports": [{"port": 8000, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "10.20.30.40/32"}}]} in egress  # fmt: skip
    assert {"ports": [{"port": 8001, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "fd00::5/128"}}]} in egress  # fmt: skip
    assert {"ports": [{"port": 8002, "protocol": "TCP"}]} in egress, "a name: any address"


def test_without_providers_nothing_beyond_dns_the_api_server_vllm_and_the_store_is_open(
    helm: Tool,
) -> None:
    egress = one(render(helm), "NetworkPolicy", "-router")["spec"]["egress"]
    assert [_ports(r) for r in egress] == [[53, 53], [443, 6443], [8000], [6379]]
    assert all("to" in r for i, r in enumerate(egress) if i != 1), "only the API server: any"


def test_extra_egress_rules_are_added_as_written(helm: Tool, tmp_path: Path) -> None:
    extra = [
        {
            "to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}],
            "ports": [{"port": 3128, "protocol": "TCP"}],
        },
        {"ports": [{"port": 9000, "endPort": 9010, "protocol": "TCP"}]},
    ]
    egress = _router_policy(helm, tmp_path, networkPolicy={"routerExtraEgress": extra})["egress"]
    assert egress[-2:] == extra


def test_a_misspelt_extra_egress_rule_is_refused_by_the_schema(helm: Tool, tmp_path: Path) -> None:
    values = _values(tmp_path, networkPolicy={"routerExtraEgress": [{"port": 3128}]})
    done = helm("template", "gptoss", str(CHART), "--values", str(values))
    assert done.returncode != 0
    assert "/networkPolicy/routerExtraEgress/0" in done.stderr
    assert "additional properties 'port' not allowed" in done.stderr


def _admitted(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The peers let in to the router's port; a rule without ``from`` admits anyone."""
    peers: list[dict[str, Any]] = []
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        peers += rule.get("from", [{"anyone": True}])
    return peers


def _labels_admitted(peers: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    """Whether a pod of the release's namespace with ``labels`` matches a peer."""
    return any(
        set(p) == {"podSelector"} and p["podSelector"]["matchLabels"].items() <= labels.items()
        for p in peers
    )


RESTRICTED = {
    "routerIngressFrom": [{"namespaceSelector": {"matchLabels": {"gptoss.dev/clients": "true"}}}],
    "routerMetricsFrom": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ],
}


def test_a_restricted_router_lets_in_its_scrapers_the_operator_and_the_test_pod(
    helm: Tool, tmp_path: Path
) -> None:
    docs = render(helm, _values(tmp_path, networkPolicy=RESTRICTED))
    peers = _admitted(one(docs, "NetworkPolicy", "-router")["spec"])
    assert {"anyone": True} not in peers
    assert RESTRICTED["routerIngressFrom"][0] in peers
    assert RESTRICTED["routerMetricsFrom"][0] in peers
    operator = one(docs, "Deployment", "-operator")["spec"]["template"]["metadata"]["labels"]
    assert _labels_admitted(peers, operator)
    test_pod = one(docs, "Pod", "-router-test")["metadata"]["labels"]
    assert _labels_admitted(peers, test_pod)
    router = one(docs, "Deployment", "-router")["spec"]["template"]["metadata"]["labels"]
    assert not _labels_admitted(peers, router), "a test peer must not match other pods"


def test_without_scrapers_named_or_tests_nobody_else_is_let_in(helm: Tool, tmp_path: Path) -> None:
    values = {
        "networkPolicy": {"routerIngressFrom": RESTRICTED["routerIngressFrom"]},
        "tests": {"enabled": False},
    }
    peers = _admitted(_router_policy(helm, tmp_path, **values))
    assert len(peers) == 2, json.dumps(peers)  # the callers named, and the operator


def test_the_api_server_accepts_the_router_policy_with_every_kind_of_rule(
    helm: Tool, kubectl: Tool, namespace: str, tmp_path: Path
) -> None:
    values = _config(
        providers=[_provider("dc2", "http://10.1.2.3:8000/v1"), _provider("g", "https://g.ai/v1")],
        models={
            "gpt-oss-20b": {"local": {"pods": ["http://10.2.0.9:8000", "http://[fd00::5]:81"]}}
        },
    )
    extra = [{"ports": [{"port": 9000, "endPort": 9010, "protocol": "TCP"}]}]
    values["networkPolicy"] = {**RESTRICTED, "routerExtraEgress": extra}
    policies = [
        d
        for d in render(helm, _values(tmp_path, **values), namespace=namespace)
        if d["kind"] == "NetworkPolicy"
    ]
    manifest = yaml.safe_dump_all(policies)
    kubectl.ok("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=manifest)
