"""The fake GPU node catalog, the credentials and the command lines (pure, no cluster)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509

from gptoss_localkube import flags
from gptoss_localkube.nodes import CATALOG, build_nodes, pod_cidr_for
from gptoss_localkube.pki import make_credentials


def test_every_node_gets_its_own_slice_of_the_pod_network() -> None:
    nodes = build_nodes("127.9.0.0/16")
    cidrs = [ipaddress.ip_network(n["spec"]["podCIDR"]) for n in nodes]
    assert len(set(cidrs)) == len(CATALOG)
    assert all(c.subnet_of(ipaddress.ip_network("127.9.0.0/16")) for c in cidrs)
    assert ipaddress.ip_network("127.9.0.0/24") not in cidrs


def test_a_pod_network_too_small_for_the_catalog_is_refused() -> None:
    try:
        pod_cidr_for("127.9.0.0/23", 5)
    except ValueError as exc:
        assert "127.9.0.0/23" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_nvidia_nodes_carry_gpu_feature_discovery_labels_capacity_and_taint() -> None:
    node = next(n for n in build_nodes("127.9.0.0/16") if n["metadata"]["name"] == "gpu-h100-0")
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.count"] == node["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert int(labels["nvidia.com/gpu.memory"]) > 80_000
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"} in node["spec"][
        "taints"
    ]
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


def test_amd_nodes_advertise_amd_gpus_with_the_amd_labeller_names() -> None:
    node = next(n for n in build_nodes("127.9.0.0/16") if n["metadata"]["name"] == "gpu-mi300x-0")
    assert node["status"]["allocatable"]["amd.com/gpu"] == "8"
    assert node["metadata"]["labels"]["amd.com/gpu.product-name"] == "AMD_Instinct_MI300X_OAM"
    assert "nvidia.com/gpu" not in node["status"]["allocatable"]
    assert node["spec"]["taints"][0]["key"] == "amd.com/gpu"


def test_the_cpu_node_has_no_gpu_and_no_taint() -> None:
    node = next(n for n in build_nodes("127.9.0.0/16") if n["metadata"]["name"] == "cpu-0")
    assert node["spec"]["taints"] == []
    assert not any(k.endswith("/gpu") for k in node["status"]["capacity"])


def test_the_serving_certificate_is_signed_by_the_ca_and_names_the_loopback_address() -> None:
    creds = make_credentials(host="127.0.0.1")
    ca = x509.load_pem_x509_certificate(creds.ca_cert)
    serving = x509.load_pem_x509_certificate(creds.serving_cert)
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert serving.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def test_each_cluster_gets_a_fresh_admin_token_in_the_system_masters_group() -> None:
    first, second = make_credentials(), make_credentials()
    assert first.admin_token != second.admin_token
    assert first.token_file().startswith(f"{first.admin_token},admin,admin,")
    assert '"system:masters"' in first.token_file()


def _layout(tmp_path: Path) -> flags.Layout:
    return flags.Layout(
        root=tmp_path,
        bin_dir=tmp_path / "bin",
        stages_dir=tmp_path / "stages",
        etcd_client_port=1,
        etcd_peer_port=2,
        apiserver_port=3,
        controller_manager_port=4,
        scheduler_port=5,
        kwok_port=6,
        pod_network="127.9.0.0/16",
    )


def test_every_component_listens_on_loopback_only(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    for argv in (
        flags.apiserver_args(layout),
        flags.controller_manager_args(layout),
        flags.scheduler_args(layout),
    ):
        assert "--bind-address=127.0.0.1" in argv
    assert "--advertise-address=127.0.0.1" in flags.apiserver_args(layout)
    assert all("127.0.0.1" in a for a in flags.etcd_args(layout) if "urls=" in a)


def test_the_kubeconfig_verifies_the_server_with_the_cluster_ca(tmp_path: Path) -> None:
    config = flags.kubeconfig(_layout(tmp_path), token="t0ken")
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:3"
    assert cluster["certificate-authority"].endswith("pki/ca.crt")
    assert "insecure-skip-tls-verify" not in cluster
    assert config["users"][0]["user"]["token"] == "t0ken"
