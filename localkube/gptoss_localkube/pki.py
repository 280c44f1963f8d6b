"""Credentials of a local cluster: a CA, the API server's serving certificate and its client
certificate towards kubelets, the service-account key pair and bearer tokens (the admin's, and
one per extra identity such as a real node's kubelet), as PEM bytes and strings (no file I/O).

The admin authenticates with a static token (``--token-auth-file``, line
``token,user,uid,"group"``), the simplest credential a Python client can carry; the token is in
group ``system:masters``. The service-account key signs and verifies service-account tokens
(one RSA key can serve as both ``--service-account-key-file`` and
``--service-account-signing-key-file``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["Credentials", "make_credentials"]

_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class Credentials:
    """Everything secret a local cluster needs, PEM-encoded."""

    ca_cert: bytes
    serving_cert: bytes
    serving_key: bytes
    service_account_key: bytes
    admin_token: str
    kubelet_client_cert: bytes = b""
    kubelet_client_key: bytes = b""
    # user name -> (token, groups) of identities besides the admin
    tokens: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def token_file(self) -> str:
        """The content of ``--token-auth-file``."""
        lines = [f'{self.admin_token},admin,admin,"system:masters"']
        for user, (token, groups) in self.tokens.items():
            lines.append(f'{token},{user},{user},"{",".join(groups)}"')
        return "\n".join(lines) + "\n"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _leaf(
    ca_key: rsa.RSAPrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    now: dt.datetime,
    names: list[x509.GeneralName] | None = None,
) -> tuple[bytes, bytes]:
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def make_credentials(
    *,
    host: str = "127.0.0.1",
    extra_ips: Iterable[str] = (),
    identities: Mapping[str, tuple[str, ...]] | None = None,
    now: dt.datetime | None = None,
) -> Credentials:
    """Fresh credentials for an API server reachable at ``host`` (and at ``extra_ips``, such as
    the ``kubernetes`` Service's ClusterIP), with a bearer token for each of ``identities``
    (user name -> groups)."""
    now = now or dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gptoss-localkube-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys([host, *extra_ips])),
    ]
    server_auth = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    client_auth = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    serving_cert, serving_key = _leaf(
        ca_key, ca_name, _subject("kube-apiserver"), server_auth, now, names
    )
    kubelet_cert, kubelet_key = _leaf(
        ca_key,
        ca_name,
        _subject("kube-apiserver-kubelet-client", "system:masters"),
        client_auth,
        now,
    )
    return Credentials(
        ca_cert=ca_cert.public_bytes(serialization.Encoding.PEM),
        serving_cert=serving_cert,
        serving_key=serving_key,
        service_account_key=_pem_key(_key()),
        admin_token=secrets.token_urlsafe(32),
        kubelet_client_cert=kubelet_cert,
        kubelet_client_key=kubelet_key,
        tokens={
            user: (secrets.token_urlsafe(32), groups) for user, groups in (identities or {}).items()
        },
    )


def _subject(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)
