"""The real node's configuration (pure): addresses that fit together, the API server's flags with
a real node, and the credentials its components use."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gptoss_localkube import clusterdns, flags, realnode
from gptoss_localkube.nodehost import mounts_under
from gptoss_localkube.pki import make_credentials
from tests.localkube.test_catalog import _layout


def _node(tmp_path: Path) -> realnode.NodeLayout:
    return realnode.NodeLayout(
        root=tmp_path / "node",
        bin_dir=tmp_path / "bin",
        ca_file=tmp_path / "ca.crt",
        pause_image="localhost/gptoss-pause:x",
        kubelet_port=11,
        kubelet_healthz_port=12,
        proxy_metrics_port=13,
        proxy_healthz_port=14,
        dns_health_port=15,
        dns_ready_port=16,
    )


def _network(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def test_both_pod_ranges_lie_in_the_cluster_cidr_kube_proxy_is_given_and_apart(
    tmp_path: Path,
) -> None:
    cluster = _network(realnode.CLUSTER_CIDR)
    kwok, node = _network(realnode.KWOK_POD_NETWORK), _network(realnode.NODE_POD_CIDR)
    assert kwok.subnet_of(cluster) and node.subnet_of(cluster)
    assert not kwok.overlaps(node)
    assert ipaddress.ip_address(realnode.NODE_ADDRESS) not in cluster
    assert f"--cluster-cidr={realnode.CLUSTER_CIDR}" in realnode.kube_proxy_args(_node(tmp_path))


def test_pods_ask_the_address_coredns_answers_on(tmp_path: Path) -> None:
    node = _node(tmp_path)
    config = realnode.kubelet_config(node)
    assert config["clusterDNS"] == [node.address]
    assert f"bind {node.address}" in clusterdns.corefile(node)
    assert config["clusterDomain"] == "cluster.local"
    assert "kubernetes cluster.local" in clusterdns.corefile(node)


def test_the_kubelet_talks_to_the_containerd_the_config_starts(tmp_path: Path) -> None:
    node = _node(tmp_path)
    config = realnode.kubelet_config(node)
    assert config["containerRuntimeEndpoint"] == f"unix://{node.containerd_socket}"
    toml = realnode.containerd_config(node, root=tmp_path / "images")
    assert f'address = "{node.containerd_socket}"' in toml
    assert f'sandbox_image = "{node.pause_image}"' in toml
    assert f'conf_dir = "{node.cni_conf_dir}"' in toml
    bridge = realnode.cni_config(node)["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": realnode.NODE_POD_CIDR}]]


def test_the_kubelet_accepts_only_authenticated_clients_the_api_server_authorizes(
    tmp_path: Path,
) -> None:
    config = realnode.kubelet_config(_node(tmp_path))
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["authentication"]["x509"]["clientCAFile"] == str(tmp_path / "ca.crt")
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["readOnlyPort"] == 0


def test_with_a_real_node_the_api_server_listens_on_its_address_and_keeps_the_endpoints(
    tmp_path: Path,
) -> None:
    loopback = flags.apiserver_args(_layout(tmp_path))
    real = flags.apiserver_args(dataclasses.replace(_layout(tmp_path), address="10.246.0.1"))
    assert "--endpoint-reconciler-type=none" in loopback
    assert not any(a.startswith("--kubelet-client") for a in loopback)
    assert {"--bind-address=10.246.0.1", "--advertise-address=10.246.0.1"} <= set(real)
    assert "--endpoint-reconciler-type=lease" in real
    assert f"--kubelet-client-certificate={tmp_path / 'pki' / 'kubelet-client.crt'}" in real


def test_the_serving_certificate_names_the_kubernetes_service_address_when_asked() -> None:
    service_ip = realnode.first_address("10.96.0.0/16")
    assert service_ip == "10.96.0.1"
    creds = make_credentials(host=realnode.NODE_ADDRESS, extra_ips=["127.0.0.1", service_ip])
    serving = x509.load_pem_x509_certificate(creds.serving_cert)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    addresses = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert addresses == {realnode.NODE_ADDRESS, "127.0.0.1", service_ip}
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)


def test_the_api_server_reaches_kubelets_as_a_client_in_system_masters() -> None:
    creds = make_credentials()
    ca = x509.load_pem_x509_certificate(creds.ca_cert)
    client = x509.load_pem_x509_certificate(creds.kubelet_client_cert)
    client.verify_directly_issued_by(ca)
    organizations = client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in organizations] == ["system:masters"]
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_each_node_component_gets_its_own_token_and_groups() -> None:
    creds = make_credentials(identities=realnode.identities())
    lines = creds.token_file().splitlines()
    assert len(lines) == 1 + len(realnode.identities())
    kubelet_token, groups = creds.tokens[realnode.kubelet_user()]
    assert groups == ("system:nodes",)
    assert (
        f'{kubelet_token},system:node:gptoss-node,system:node:gptoss-node,"system:nodes"' in lines
    )
    tokens = {token for token, _ in creds.tokens.values()} | {creds.admin_token}
    assert len(tokens) == len(lines)


def test_the_mounts_left_under_a_nodes_directory_are_found_deepest_first() -> None:
    table = "\n".join(
        [
            "/dev/vda / ext4 rw 0 0",
            "/dev/vda /tmp/c1/node/kubelet ext4 rw 0 0",
            "tmpfs /tmp/c1/node/kubelet/pods/u/volumes/secret/key tmpfs rw 0 0",
            "/dev/vda /tmp/c10/node/kubelet ext4 rw 0 0",
            "tmpfs /tmp/c1/node/with\\040space tmpfs rw 0 0",
        ]
    )
    assert mounts_under(Path("/tmp/c1/node"), table) == [
        "/tmp/c1/node/kubelet/pods/u/volumes/secret/key",
        "/tmp/c1/node/kubelet",
        "/tmp/c1/node/with space",
    ]
