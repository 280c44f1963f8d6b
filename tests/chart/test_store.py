"""The chart's shared state store, offline: the three store modes as rendered, the refusal of
store.mode=none with several routers, the password kept out of ConfigMaps and environment
variables, the NetworkPolicies around the store, the router accepting the environment it is
given, and the embedded store's configuration, init script and probe run against a real
redis-server.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from gptoss_localkube.net import free_port
from gptoss_router.settings import RouterSettings
from tests.chart.helm import CHART, Tool, find, one, render
from tests.waiting import eventually

EXTERNAL = CHART / "ci" / "store-external-values.yaml"
NONE = CHART / "ci" / "store-none-values.yaml"
STORE_DIR = "/etc/gptoss/store"
CA_DIR = "/etc/gptoss/store-ca"


def _router(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = one(docs, "Deployment", "-router")["spec"]["template"]["spec"]
    return pod


def _env(docs: list[dict[str, Any]]) -> dict[str, str]:
    container = _router(docs)["containers"][0]
    assert all("valueFrom" not in e for e in container["env"]), "no env var from a Secret"
    return {e["name"]: e["value"] for e in container["env"]}


def _mounted_secret(pod: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any]:
    """The Secret volume mounted read-only at ``path`` in ``container``."""
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret: dict[str, Any] = volume["secret"]
    return secret


def _store_objects(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "store"
    )


def _template_error(helm: Tool, *args: str) -> str:
    done = helm("template", "gptoss", str(CHART), *args)
    assert done.returncode != 0, f"{args} was accepted"
    return done.stderr


# Embedded (the default)


def test_the_default_store_is_embedded_one_pinned_server_with_a_service_and_a_password(
    helm: Tool,
) -> None:
    docs = render(helm)
    assert _store_objects(docs) == [
        "ConfigMap/gptoss-store",
        "NetworkPolicy/gptoss-store",
        "Secret/gptoss-store",
        "Service/gptoss-store",
        "StatefulSet/gptoss-store",
    ]
    store = one(docs, "StatefulSet", "-store")
    assert store["spec"]["replicas"] == 1
    assert store["spec"]["serviceName"] == "gptoss-store"
    (container,) = store["spec"]["template"]["spec"]["containers"]
    repository, tag = container["image"].rsplit(":", 1)
    assert repository in ("docker.io/valkey/valkey", "docker.io/library/redis")
    assert tag[0].isdigit() and tag.count(".") == 2, "a pinned version, not latest"
    assert container["readinessProbe"]["exec"] and container["livenessProbe"]["tcpSocket"]
    (port,) = one(docs, "Service", "-store")["spec"]["ports"]
    assert port["port"] == 6379
    password = base64.b64decode(one(docs, "Secret", "-store")["data"]["password"]).decode()
    assert len(password) >= 32


def test_the_router_gets_the_store_url_without_a_password_and_the_password_as_a_file(
    helm: Tool,
) -> None:
    docs = render(helm)
    env = _env(docs)
    assert env["GPTOSS_ROUTER_STORE__URL"] == "redis://gptoss-store.gptoss.svc:6379/0"
    assert env["GPTOSS_ROUTER_STORE__KEY_FILE"] == f"{STORE_DIR}/password"
    assert "GPTOSS_ROUTER_STORE__CA_FILE" not in env
    pod = _router(docs)
    secret = _mounted_secret(pod, pod["containers"][0], STORE_DIR)
    assert secret["secretName"] == "gptoss-store"
    assert secret["items"] == [{"key": "password", "path": "password"}]


def test_the_store_password_is_never_in_a_config_map_or_the_environment(helm: Tool) -> None:
    for sets in [(), ("store.embedded.persistence.enabled=true",)]:
        docs = render(helm, sets=sets)
        password = base64.b64decode(one(docs, "Secret", "-store")["data"]["password"]).decode()
        elsewhere = [d for d in docs if d["kind"] != "Secret"]
        assert elsewhere
        for doc in elsewhere:
            assert password not in yaml.safe_dump(doc), f"{doc['kind']}/{doc['metadata']['name']}"
        config = one(docs, "ConfigMap", "-store")["data"]["store.conf"]
        assert "requirepass" not in config
        assert "include /run/gptoss-store/auth.conf" in config


def test_an_existing_secret_replaces_the_generated_one(helm: Tool) -> None:
    docs = render(helm, sets=("store.existingSecret=my-redis", "store.secretKey=redis-password"))
    assert find(docs, "Secret") == []
    pod = _router(docs)
    secret = _mounted_secret(pod, pod["containers"][0], STORE_DIR)
    assert secret == {
        "secretName": "my-redis",
        "items": [{"key": "redis-password", "path": "password"}],
        "defaultMode": 0o440,
    }
    store = one(docs, "StatefulSet", "-store")["spec"]["template"]["spec"]
    (volume,) = [v for v in store["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "my-redis"
    assert volume["secret"]["items"] == [{"key": "redis-password", "path": "password"}]


def test_the_readme_tells_gitops_tools_that_render_with_helm_template_to_name_a_secret(
    helm: Tool, tmp_path: Path
) -> None:
    """`lookup` keeps the generated password only under helm install and upgrade; the README's
    values for a tool that renders with `helm template` make the chart generate none."""
    readme = (CHART / "README.md").read_text()
    section = readme.split("### GitOps: set `store.existingSecret`", 1)[1].split("\n### ", 1)[0]
    for words in ("`lookup`", "`helm template`", "Argo CD", "random password"):
        assert words in section, words
    values = tmp_path / "gitops-values.yaml"
    values.write_text(section.split("```yaml", 1)[1].split("```", 1)[0])
    docs = render(helm, values)
    assert find(docs, "Secret") == []
    pod = _router(docs)
    secret = _mounted_secret(pod, pod["containers"][0], STORE_DIR)
    assert secret["secretName"] == "gptoss-store-password"
    store = one(docs, "StatefulSet", "-store")["spec"]["template"]["spec"]
    assert [v["secret"]["secretName"] for v in store["volumes"] if "secret" in v] == [
        "gptoss-store-password"
    ]


def test_the_embedded_store_keeps_nothing_unless_persistence_is_enabled(helm: Tool) -> None:
    docs = render(helm)
    store = one(docs, "StatefulSet", "-store")
    assert "volumeClaimTemplates" not in store["spec"]
    (data,) = [v for v in store["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert "emptyDir" in data
    config = one(docs, "ConfigMap", "-store")["data"]["store.conf"].splitlines()
    assert 'save ""' in config and "appendonly no" in config

    docs = render(
        helm,
        sets=(
            "store.embedded.persistence.enabled=true",
            "store.embedded.persistence.size=5Gi",
            "store.embedded.persistence.storageClassName=fast",
        ),
    )
    store = one(docs, "StatefulSet", "-store")
    (claim,) = store["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert [v for v in store["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"] == []
    assert "appendonly yes" in one(docs, "ConfigMap", "-store")["data"]["store.conf"]


def test_the_store_pod_runs_restricted_without_a_token(helm: Tool) -> None:
    pod = one(render(helm), "StatefulSet", "-store")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in [*pod["initContainers"], *pod["containers"]]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "memory" in container["resources"]["limits"]
    writable = {m["mountPath"] for c in pod["containers"] for m in c["volumeMounts"]}
    assert "/data" in writable


# Network policies


def _egress_to_store(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policy = one(docs, "NetworkPolicy", "-router")
    return [
        rule
        for rule in policy["spec"]["egress"]
        if any(p["port"] in (6379, 6380) for p in rule.get("ports", []))
    ]


def test_only_router_pods_may_reach_the_embedded_store(helm: Tool) -> None:
    docs = render(helm)
    policy = one(docs, "NetworkPolicy", "-store")
    store_labels = one(docs, "StatefulSet", "-store")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= store_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    (peer,) = rule["from"]
    router_labels = _router_labels(docs)
    assert set(peer) == {"podSelector"}
    assert peer["podSelector"]["matchLabels"].items() <= router_labels.items()
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "router"

    (egress,) = _egress_to_store(docs)
    (target,) = egress["to"]
    assert target["podSelector"]["matchLabels"].items() <= store_labels.items()
    assert "namespaceSelector" not in target, "the store is in the release's namespace"


def _router_labels(docs: list[dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = one(docs, "Deployment", "-router")["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_the_router_may_reach_an_external_store_on_its_port_in_the_store_cidrs(
    helm: Tool,
) -> None:
    docs = render(helm, EXTERNAL)
    (egress,) = _egress_to_store(docs)
    assert egress["ports"] == [{"port": 6380, "protocol": "TCP"}]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.20.0.0/24"}}]
    assert find(docs, "NetworkPolicy", "-store") == []

    docs = render(helm, EXTERNAL, sets=("networkPolicy.storeCIDRs=null",))
    (egress,) = _egress_to_store(docs)
    assert "to" not in egress, "no CIDRs: any address on the store's port"


def test_an_external_url_without_a_port_means_6379(helm: Tool) -> None:
    docs = render(helm, sets=("store.mode=external", "store.external.url=redis://redis.example"))
    (egress,) = _egress_to_store(docs)
    assert egress["ports"] == [{"port": 6379, "protocol": "TCP"}]


def test_a_store_behind_sentinel_is_reached_on_the_sentinels_port_and_the_primarys(
    helm: Tool,
) -> None:
    sets = (
        "store.mode=external",
        "store.external.url=redis://redis.redis.svc:26379/0",
        "store.external.sentinel.master=mymaster",
    )
    docs = render(helm, sets=sets)
    env = _env(docs)
    assert env["GPTOSS_ROUTER_STORE__URL"] == "redis://redis.redis.svc:26379/0"
    assert env["GPTOSS_ROUTER_STORE__SENTINEL_MASTER"] == "mymaster"
    policy = one(docs, "NetworkPolicy", "-router")
    (egress,) = [
        r
        for r in policy["spec"]["egress"]
        if {"port": 26379, "protocol": "TCP"} in r.get("ports", [])
    ]
    assert egress["ports"] == [
        {"port": 26379, "protocol": "TCP"},
        {"port": 6379, "protocol": "TCP"},
    ]
    plain = _env(render(helm, sets=sets[:2]))
    assert "GPTOSS_ROUTER_STORE__SENTINEL_MASTER" not in plain


# External


def test_an_external_store_deploys_nothing_and_hands_the_router_url_password_and_ca(
    helm: Tool,
) -> None:
    docs = render(helm, EXTERNAL)
    assert _store_objects(docs) == []
    env = _env(docs)
    assert env["GPTOSS_ROUTER_STORE__URL"] == "rediss://redis.internal.example:6380/0"
    assert env["GPTOSS_ROUTER_STORE__USERNAME"] == "gptoss-router"
    assert env["GPTOSS_ROUTER_STORE__KEY_FILE"] == f"{STORE_DIR}/password"
    assert env["GPTOSS_ROUTER_STORE__CA_FILE"] == f"{CA_DIR}/ca.crt"
    pod = _router(docs)
    password = _mounted_secret(pod, pod["containers"][0], STORE_DIR)
    assert password["secretName"] == "redis-credentials"
    assert password["items"] == [{"key": "redis-password", "path": "password"}]
    ca = _mounted_secret(pod, pod["containers"][0], CA_DIR)
    assert ca["secretName"] == "redis-ca"
    assert ca["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_an_external_store_without_a_password_gets_no_key_file(helm: Tool) -> None:
    docs = render(helm, sets=("store.mode=external", "store.external.url=redis://r:6379/0"))
    env = _env(docs)
    assert env["GPTOSS_ROUTER_STORE__URL"] == "redis://r:6379/0"
    assert "GPTOSS_ROUTER_STORE__USERNAME" not in env  # the default user
    assert "GPTOSS_ROUTER_STORE__KEY_FILE" not in env
    assert "GPTOSS_ROUTER_STORE__CA_FILE" not in env
    mounts = {m["mountPath"] for m in _router(docs)["containers"][0]["volumeMounts"]}
    assert not {STORE_DIR, CA_DIR} & mounts


def test_an_external_store_needs_a_url(helm: Tool) -> None:
    err = _template_error(helm, "--set", "store.mode=external")
    assert "store.mode=external needs store.external.url" in err


@pytest.mark.parametrize(
    "url",
    ["redis://user:secret@redis:6379/0", "http://redis:6379", "redis://redis:6379/zero"],
)
def test_the_schema_refuses_a_store_url_with_credentials_or_another_scheme(
    helm: Tool, url: str
) -> None:
    err = _template_error(
        helm, "--set", "store.mode=external", "--set", f"store.external.url={url}"
    )
    assert "/store/external/url" in err


def test_a_ca_bundle_needs_the_rediss_scheme(helm: Tool) -> None:
    err = _template_error(
        helm, "--values", str(EXTERNAL), "--set", "store.external.url=redis://r:6379/0"
    )
    assert "store.external.url must start with rediss://" in err


# None


def test_without_a_store_a_single_router_keeps_state_in_memory(helm: Tool) -> None:
    docs = render(helm, NONE)
    assert _store_objects(docs) == []
    env = _env(docs)
    assert not [name for name in env if name.startswith("GPTOSS_ROUTER_STORE")]
    assert _egress_to_store(docs) == []
    assert one(docs, "Deployment", "-router")["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (("router.replicas=2",), "router.replicas=2"),
        (
            ("router.replicas=1", "router.autoscaling.enabled=true"),
            "router.autoscaling.enabled=true",
        ),
    ],
)
def test_without_a_store_several_routers_are_refused_naming_the_values(
    helm: Tool, sets: tuple[str, ...], named: str
) -> None:
    err = _template_error(
        helm, "--set", "store.mode=none", *(a for s in sets for a in ("--set", s))
    )
    assert "store.mode=none" in err
    assert "exactly one router" in err
    assert named in err


def test_a_misspelt_store_mode_is_refused_by_the_schema(helm: Tool) -> None:
    err = _template_error(helm, "--set", "store.mode=memory")
    assert "/store/mode" in err


# Anonymous callers


def test_anonymous_callers_are_refused_unless_allowed_explicitly(helm: Tool) -> None:
    assert _env(render(helm))["GPTOSS_ROUTER_ALLOW_ANONYMOUS"] == "false"
    assert _env(render(helm, EXTERNAL))["GPTOSS_ROUTER_ALLOW_ANONYMOUS"] == "true"


# The router reads what the chart gives it


@pytest.mark.parametrize("values", [None, EXTERNAL, NONE], ids=["embedded", "external", "none"])
def test_the_router_accepts_the_store_environment_it_is_given(
    helm: Tool, values: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(helm, *([values] if values else []))
    config = yaml.safe_load(one(docs, "ConfigMap", "-router")["data"]["router.yaml"])
    files = {f"{STORE_DIR}/password": "s3cret\n", f"{CA_DIR}/ca.crt": "-----BEGIN CERTIFICATE-----"}
    for name, value in _env(docs).items():
        if value in files:
            stand_in = tmp_path / Path(value).name
            stand_in.write_text(files[value])
            value = str(stand_in)
        monkeypatch.setenv(name, value)
    settings = RouterSettings(**config)
    if values == NONE:
        assert settings.store is None
        return
    assert settings.store is not None
    assert settings.store.url == _env(docs)["GPTOSS_ROUTER_STORE__URL"]
    assert settings.store.key is not None
    assert settings.store.key.get_secret_value() == "s3cret"
    assert settings.allow_anonymous is (values == EXTERNAL)
    assert (settings.store.ca_file is not None) is (values == EXTERNAL)


# The embedded store's own files, run against a real redis-server


@contextlib.contextmanager
def _running(binary: Path, config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([str(binary), str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_embedded_store_files_start_a_real_server_that_asks_for_the_password(
    helm: Tool, redis_bin: Path, tmp_path: Path
) -> None:
    """The rendered init script, configuration and readiness probe, with the pod's paths moved
    into a temporary directory and the server bound to loopback, on Debian's redis-server."""
    password = 'pa ss"wo\\rd-' + os.urandom(4).hex()
    docs = render(helm, sets=("store.existingSecret=mine",))
    pod = one(docs, "StatefulSet", "-store")["spec"]["template"]["spec"]
    secret_dir, run_dir, data_dir = tmp_path / "secret", tmp_path / "run", tmp_path / "data"
    for folder in (secret_dir, run_dir, data_dir):
        folder.mkdir()
    (secret_dir / "password").write_text(password)
    port = free_port()

    def local(text: str) -> str:
        return (
            text.replace(STORE_DIR, str(secret_dir))
            .replace("/run/gptoss-store", str(run_dir))
            .replace("6379", str(port))
        )

    (init,) = pod["initContainers"]
    assert init["command"][:2] == ["sh", "-c"]
    subprocess.run(["sh", "-c", local(init["command"][2])], check=True, timeout=30)
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    assert (run_dir / "auth.conf").read_text() == f'requirepass "{escaped}"\n'

    config = local(one(docs, "ConfigMap", "-store")["data"]["store.conf"])
    config = config.replace("bind * -::*", "bind 127.0.0.1").replace("dir /data", f"dir {data_dir}")
    (tmp_path / "store.conf").write_text(config)
    (container,) = pod["containers"]
    probe = local(container["readinessProbe"]["exec"]["command"][2])
    env = {**os.environ, "PATH": f"{redis_bin.parent}:{os.environ['PATH']}"}

    with _running(redis_bin, tmp_path / "store.conf", tmp_path / "store.log") as process:
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5)

        def pong() -> bool:
            assert process.poll() is None, (tmp_path / "store.log").read_text()
            with contextlib.suppress(redis.ConnectionError):
                return bool(client.ping())
            return False

        eventually(pong, timeout=30, what="the embedded store's configuration to serve")
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
        done = subprocess.run(["sh", "-c", probe], env=env, timeout=30, check=False)
        assert done.returncode == 0, "the readiness probe passes"
        (secret_dir / "password").write_text("wrong")
        done = subprocess.run(
            ["sh", "-c", probe], env=env, timeout=30, check=False, capture_output=True
        )
        assert done.returncode != 0, "the readiness probe needs the right password"
        client.close()
