"""A pod's container becomes a ``podman run`` command line that keeps every restriction a
kubelet enforces, and anything the translation does not know is refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gptoss_localkube.podspec import (
    SERVICE_ACCOUNT_DIR,
    HostVolume,
    UnsupportedField,
    host_volumes,
    probe_url,
    run_args,
    volume_files,
)


def _pod(**container: Any) -> dict[str, Any]:
    return {
        "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 2000},
        "containers": [{"name": "app", "image": "localhost/app:1", **container}],
        "volumes": [
            {"name": "config", "configMap": {"name": "cm"}},
            {"name": "keys", "secret": {"secretName": "s", "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_the_restricted_security_context_is_kept_and_podmans_own_tmpfs_is_off() -> None:
    pod = _pod(
        securityContext={
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        }
    )
    args = run_args(pod, pod["containers"][0], {}, name="c")
    assert _pairs(args, "--user") == ["65532:65532"]
    assert _pairs(args, "--group-add") == ["2000"]
    assert "--read-only" in args and "--read-only-tmpfs=false" in args
    assert _pairs(args, "--security-opt") == ["no-new-privileges"]
    assert _pairs(args, "--cap-drop") == ["ALL"]
    assert _pairs(args, "--network") == ["host"]


def test_command_replaces_the_entrypoint_and_args_follow_the_image() -> None:
    pod = _pod(command=["vllm", "serve"], args=["gpt-oss-20b", "--port", 8000])
    args = run_args(pod, pod["containers"][0], {}, name="c")
    assert json.loads(_pairs(args, "--entrypoint")[0]) == ["vllm", "serve"]
    assert args[-4:] == ["localhost/app:1", "gpt-oss-20b", "--port", "8000"]
    plain = run_args(_pod(), _pod()["containers"][0], {}, name="c")
    assert "--entrypoint" not in plain and plain[-1] == "localhost/app:1"


def test_env_takes_values_and_pod_fields_and_refuses_what_it_cannot_resolve() -> None:
    env = [
        {"name": "A", "value": "1"},
        {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    pod = _pod(env=env)
    args = run_args(pod, pod["containers"][0], {}, name="c", fields={"metadata.name": "p-1"})
    assert _pairs(args, "--env") == ["A=1", "ME=p-1"]
    with pytest.raises(UnsupportedField, match=r"env ME: fieldRef metadata\.name"):
        run_args(pod, pod["containers"][0], {}, name="c")
    secret_env = _pod(env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s"}}}])
    with pytest.raises(UnsupportedField, match="env K"):
        run_args(secret_env, secret_env["containers"][0], {}, name="c")


def test_volumes_mount_read_only_where_asked_and_empty_dirs_are_sized_tmpfs(
    tmp_path: Path,
) -> None:
    mounts = [
        {"name": "config", "mountPath": "/etc/app", "readOnly": True},
        {"name": "keys", "mountPath": "/etc/keys/one", "subPath": "one", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    pod = _pod(volumeMounts=mounts)
    volumes = host_volumes(pod, {"config": tmp_path / "c", "keys": tmp_path / "k"})
    assert volumes["tmp"] == HostVolume(tmpfs_size=str(16 * 2**20))
    args = run_args(pod, pod["containers"][0], volumes, name="c")
    assert _pairs(args, "--volume") == [
        f"{tmp_path / 'c'}:/etc/app:ro",
        f"{tmp_path / 'k' / 'one'}:/etc/keys/one:ro",
    ]
    assert _pairs(args, "--mount") == [f"type=tmpfs,destination=/tmp,tmpfs-size={16 * 2**20}"]


def test_configmap_and_secret_files_get_items_paths_and_modes() -> None:
    pod = _pod()
    pod["volumes"][1]["secret"]["items"] = [{"key": "password", "path": "pw"}]
    files = volume_files(pod, {"cm": {"router.yaml": "a: 1"}}, {"s": {"password": "x"}})
    assert files == {"config": {"router.yaml": ("a: 1", 0o644)}, "keys": {"pw": ("x", 0o440)}}
    with pytest.raises(UnsupportedField, match="volume keys: s was not provided"):
        volume_files(pod, {"cm": {}}, {})


def test_a_service_account_and_the_api_server_are_given_where_a_kubelet_gives_them(
    tmp_path: Path,
) -> None:
    pod = _pod()
    args = run_args(
        pod,
        pod["containers"][0],
        {},
        name="c",
        service_account=tmp_path,
        api_server=("127.0.0.1", 6443),
    )
    assert f"{tmp_path}:{SERVICE_ACCOUNT_DIR}:ro" in _pairs(args, "--volume")
    env = _pairs(args, "--env")
    assert "KUBERNETES_SERVICE_HOST=127.0.0.1" in env and "KUBERNETES_SERVICE_PORT=6443" in env


def test_published_ports_give_the_container_its_own_network_and_probes_follow_them() -> None:
    probe = {"httpGet": {"path": "/readyz", "port": "http"}}
    pod = _pod(ports=[{"name": "http", "containerPort": 8080}], readinessProbe=probe)
    container = pod["containers"][0]
    args = run_args(pod, container, {}, name="c", publish={8080: 41000})
    assert _pairs(args, "--publish") == ["127.0.0.1:41000:8080"]
    assert "--network" not in args
    assert probe_url(container, "readinessProbe", {8080: 41000}) == "http://127.0.0.1:41000/readyz"
    assert probe_url(container, "readinessProbe") == "http://127.0.0.1:8080/readyz"
    with pytest.raises(UnsupportedField, match="publish 9000: not a containerPort"):
        run_args(pod, container, {}, name="c", publish={9000: 41001})


def test_limits_become_podman_limits() -> None:
    pod = _pod(resources={"limits": {"memory": "512Mi", "cpu": "500m", "nvidia.com/gpu": "1"}})
    args = run_args(pod, pod["containers"][0], {}, name="c")
    assert _pairs(args, "--memory") == [str(512 * 2**20)]
    assert _pairs(args, "--cpus") == ["0.5"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"envFrom": [{"secretRef": {"name": "s"}}]}, "container app: envFrom"),
        ({"securityContext": {"privileged": True}}, "privileged"),
        ({"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, "runAsNonRoot"),
        ({"volumeMounts": [{"name": "data", "mountPath": "/d"}]}, "volumeMount data"),
        ({"securityContext": {"seccompProfile": {"type": "Localhost"}}}, "seccompProfile"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(change: dict[str, Any], message: str) -> None:
    pod = _pod(**change)
    with pytest.raises(UnsupportedField, match=message):
        run_args(pod, pod["containers"][0], {}, name="c")
