"""Credentials of a local cluster: a CA, the API server's serving certificate, the service-account
key pair and an admin bearer token, as PEM bytes and strings (no file I/O here).

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
from dataclasses import dataclass

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

    def token_file(self) -> str:
        """The content of ``--token-auth-file``."""
        return f'{self.admin_token},admin,admin,"system:masters"\n'


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def make_credentials(*, host: str = "127.0.0.1", now: dt.datetime | None = None) -> Credentials:
    """Fresh credentials for an API server reachable at ``host``."""
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
    serving_key = _key()
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address(host)),
    ]
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Credentials(
        ca_cert=ca_cert.public_bytes(serialization.Encoding.PEM),
        serving_cert=serving_cert.public_bytes(serialization.Encoding.PEM),
        serving_key=_pem_key(serving_key),
        service_account_key=_pem_key(_key()),
        admin_token=secrets.token_urlsafe(32),
    )
